//! Bindings: the thin glue between Rhai and the host. One file per script namespace; no
//! business logic here — only argument decoding, the trip through the effect gate, and
//! conversion of results and errors.
//!
//! The run's [`RunContext`] reaches every binding through the engine's tag (set per run), never
//! through globals.

pub mod core;
pub mod files;
pub mod health;
pub mod options;
pub mod postgres;
pub mod postgres_values;
pub mod storage;
pub mod storage_values;
pub mod supabase;
pub mod types;
pub mod vps;

use std::rc::Rc;

use rhai::{Dynamic, Engine, EvalAltResult, Module, NativeCallContext, Position};

use crate::context::RunContext;
use crate::error::{Error, ErrorKind};

/// The run context as stored in the engine's tag, with the run's hooks.
#[derive(Clone)]
pub struct ContextHandle(pub Rc<RunContext>, pub Hooks);

/// Closures registered with `on_failure` / `on_success`, run after the script.
#[derive(Clone, Default)]
pub struct Hooks {
    /// `on_failure` closures, in registration order.
    pub on_failure: Rc<std::cell::RefCell<Vec<rhai::FnPtr>>>,
    /// `on_success` closures, in registration order.
    pub on_success: Rc<std::cell::RefCell<Vec<rhai::FnPtr>>>,
}

/// A script namespace: a title and intro for the API reference, and its functions.
pub struct Namespace {
    /// Section title in the API reference.
    pub title: &'static str,
    /// A paragraph introducing the section.
    pub intro: &'static str,
    /// The registered functions.
    pub module: Module,
}

/// Every script namespace, in the order the API reference shows them.
pub fn namespaces() -> Vec<Namespace> {
    vec![
        Namespace {
            title: "Runbook, steps and parameters",
            intro: "Declaring a runbook, running steps, reading parameters, the environment and secrets, confirmations and logging.",
            module: rhai::exported_module!(core::core_api),
        },
        Namespace {
            title: "Files in the working directory",
            intro: "Small file primitives confined to the project folder. They show the effect gate at work: writing a new file is a Write, overwriting or removing one is Destructive.",
            module: rhai::exported_module!(files::files_api),
        },
        Namespace {
            title: "Backups: keys, archives and stores",
            intro: "Encrypted, streaming backups of files into a store, and safe restores. Sets are maps: `#{ name, id, url, created, host, complete, kind, files, bytes, stored_bytes, key_id }`.",
            module: rhai::exported_module!(storage::storage_api),
        },
        Namespace {
            title: "Postgres databases",
            intro: "Database handles for read-only queries and catalog reads, streamed dumps into backup sets (`store.backup(name, db.dump(), key)`), and restores verified against what the dump recorded. Tables are maps `#{ schema, name, rls, force_rls, rows }`; policies are `pg_policies` rows `#{ schema, table, name, permissive, roles, command, using, with_check }`.",
            module: rhai::exported_module!(postgres::postgres_api),
        },
        Namespace {
            title: "Health checks, waiting and notifications",
            intro: "Checks return `#{ ok, latency_ms, attempts, detail, status }` and never fail the run by themselves: scripts branch on `ok`. Notifications go to Slack- or Teams-compatible incoming webhooks or any JSON webhook; the webhook URL is a secret.",
            module: rhai::exported_module!(health::health_api),
        },
        Namespace {
            title: "VPS snapshots",
            intro: "Provider snapshots of a VPS (Hetzner Cloud, Contabo) or of a local qcow2 image: list, take, prune, restore, and boot a copy to verify one. Snapshots are maps: `#{ id, name, created, status, ours, size_gb }`; only snapshots runbook made (`ours`) are ever pruned.",
            module: rhai::exported_module!(vps::vps_api),
        },
        Namespace {
            title: "Supabase",
            intro: "The Supabase Management API for one project: platform backups and their freshness (RPO), the point-in-time-recovery window and PITR restores, the daily backup schedule, service health and project status. The access token is a secret and never appears in output.",
            module: rhai::exported_module!(supabase::supabase_api),
        },
        Namespace {
            title: "Value types",
            intro: "Types that scripts receive from primitives.",
            module: rhai::exported_module!(types::types_api),
        },
    ]
}

/// Registers every namespace and the run context into `engine`; returns the run's hooks.
pub fn register(engine: &mut Engine, context: Rc<RunContext>) -> Hooks {
    engine
        .register_type_with_name::<crate::context::secrets::Secret>("Secret")
        .register_type_with_name::<Error>("Error");
    for namespace in namespaces() {
        engine.register_global_module(namespace.module.into());
    }
    let hooks = Hooks::default();
    engine.set_default_tag(Dynamic::from(ContextHandle(context, hooks.clone())));
    hooks
}

/// The hooks of the calling script's run.
pub fn run_hooks(call: &NativeCallContext) -> Result<Hooks, Box<EvalAltResult>> {
    call.tag()
        .and_then(|tag| tag.read_lock::<ContextHandle>().map(|h| h.1.clone()))
        .ok_or_else(|| to_rhai(Error::failed("internal: no run context in this engine")))
}

/// The run context of the calling script.
pub fn run_context(call: &NativeCallContext) -> Result<Rc<RunContext>, Box<EvalAltResult>> {
    call.tag()
        .and_then(|tag| tag.read_lock::<ContextHandle>().map(|h| h.0.clone()))
        .ok_or_else(|| to_rhai(Error::failed("internal: no run context in this engine")))
}

/// An [`Error`] as a Rhai error. Interruptions and timeouts terminate the script (no `catch`
/// can swallow them); everything else is a runtime error a script may catch.
pub fn to_rhai(error: Error) -> Box<EvalAltResult> {
    match error.kind() {
        ErrorKind::Interrupted | ErrorKind::Timeout => Box::new(EvalAltResult::ErrorTerminated(
            Dynamic::from(error),
            Position::NONE,
        )),
        _ => Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(error),
            Position::NONE,
        )),
    }
}

/// A one-line description of a Rhai error, for the journal.
pub fn describe(err: &EvalAltResult) -> String {
    match err.unwrap_inner() {
        EvalAltResult::ErrorRuntime(value, _) | EvalAltResult::ErrorTerminated(value, _) => {
            match value.read_lock::<Error>() {
                Some(e) => e.message().to_string(),
                None => value.to_string(),
            }
        }
        other => crate::engine::diagnostics::without_position(other),
    }
}
