//! `runbook`: executable disaster-recovery runbooks.
//!
//! Runbooks are Rhai scripts whose host API is a small set of safe, streaming, dry-run-aware
//! primitives. The layers, top to bottom:
//!
//! - [`cli`]: argument parsing and the commands (`run`, `check`, `list`, `api`).
//! - [`engine`]: the Rhai sandbox, limits, module resolver, metadata, diagnostics.
//! - [`bindings`]: thin Rhai glue, one file per script namespace.
//! - [`host`]: the primitives themselves, plain Rust with no Rhai types.
//! - [`context`]: per-run state: mode and effect gate, journal, secrets, output, locks.
//! - [`report`]: drill records and evidence, the playbook, operating-system schedules.
//!
//! [`error::Error`] is the one error type; its kind decides the exit code.

#![warn(missing_docs)]

pub mod bindings;
pub mod cli;
pub mod config;
pub mod context;
pub mod engine;
pub mod error;
pub mod host;
pub mod report;
