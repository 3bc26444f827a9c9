//! The core script namespace: `runbook`, `step`, `param`, `env`, `secret`, `confirm`, `log`,
//! `warn`, `sleep`, `target_missed`.

use rhai::plugin::*;
use rhai::{Dynamic, FnPtr, Map, NativeCallContext};

use crate::bindings::options::Options;
use crate::bindings::{describe, run_context, to_rhai};
use crate::context::events::StepStatus;
use crate::context::{StepSpec, StepStart};
use crate::engine::values::{from_json, to_json};

type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

/// The body of `step`: begin (or resume), call the closure, end with its result.
fn run_step(call: &NativeCallContext, name: &str, options: Map, body: FnPtr) -> Res<Dynamic> {
    let context = run_context(call)?;
    let options = Options::new("step options", options, &["timeout", "fallback", "manual"])
        .map_err(to_rhai)?;
    let spec = StepSpec {
        timeout: options.duration("timeout").map_err(to_rhai)?,
        fallback: options.string("fallback").map_err(to_rhai)?,
        manual: options.string("manual").map_err(to_rhai)?,
    };
    match context.begin_step(name, &spec).map_err(to_rhai)? {
        StepStart::Resumed(output) => Ok(from_json(&output)),
        // An offline plan (`runbook doc`): the body is not run; an empty map stands in for its
        // result so that `set.id` after the step still evaluates (to `()`).
        StepStart::Outlined => Ok(Dynamic::from_map(Map::new())),
        StepStart::Run => match body.call_within_context::<Dynamic>(call, ()) {
            Ok(value) => {
                let (json, faithful) = to_json(&value);
                context.end_step(StepStatus::Ok, Some(json), faithful, None);
                Ok(value)
            }
            Err(err) => {
                if let Some(fallback) = &spec.fallback {
                    context.log(
                        "warn",
                        &format!("manual fallback for \"{name}\": {fallback}"),
                    );
                }
                context.end_step(StepStatus::Failed, None, false, Some(describe(&err)));
                Err(err)
            }
        },
    }
}

/// The core functions: runbook, step, param, env, secret, confirm, log, warn, sleep.
#[export_module]
pub mod core_api {
    use rhai::{Dynamic, FnPtr, Map, NativeCallContext};

    use crate::bindings::{run_context, to_rhai};
    use crate::context::secrets::Secret;
    use crate::context::ParamValue;
    use crate::engine::metadata::{parse_duration, RunbookMeta};
    use crate::engine::values::from_json;
    use crate::error::Error;

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// Declares the runbook: its title, owner, targets, schedule, parameters and contacts.
    /// Call it once, as the first statement (imports may come before it).
    ///
    /// Keys: `title` (required), `owner`, `rto` and `rpo` (durations such as `"2h"`),
    /// `schedule` (5-field cron in UTC, e.g. `"0 2 * * *"`), `params` (a map of name to default,
    /// or to `#{ value, doc, secret }` where `value` is the default; a default of `()` makes the parameter required),
    /// `contacts` (`[#{ role, name, reach }]`) and `escalation` (an ordered list of strings).
    /// Unknown keys are errors.
    ///
    /// ```rhai
    /// runbook(#{ title: "Restore application data", owner: "DevOps lead", rto: "30m",
    ///            params: #{ set: "latest", target: "/srv/mt5" } });
    /// ```
    #[rhai_fn(return_raw)]
    pub fn runbook(call: NativeCallContext, metadata: Map) -> Res<()> {
        let context = run_context(&call)?;
        RunbookMeta::from_map(&metadata, "").map_err(to_rhai)?;
        if !context.declare_runbook() {
            return Err(to_rhai(Error::usage(
                "runbook(...) may be called only once",
            )));
        }
        Ok(())
    }

    /// Runs `body` as a named step: shows its progress and duration, records it in the journal,
    /// and returns what `body` returns. In a resumed run (`--resume RUN_ID`) a step that finished
    /// before is skipped and its recorded result returned instead.
    ///
    /// ```rhai
    /// let set = step("Find backup set", || store.find("app-data", "latest"));
    /// ```
    #[rhai_fn(name = "step", return_raw)]
    pub fn step(call: NativeCallContext, name: &str, body: FnPtr) -> Res<Dynamic> {
        super::run_step(&call, name, Map::new(), body)
    }

    /// Like `step(name, body)`, with options:
    /// `timeout` (a duration such as `"30m"`; the step fails when it runs longer, and a script
    /// cannot catch that failure);
    /// `fallback` (text: how to do this step by hand when the automated step fails — shown as a
    /// warning when it fails, and listed under the step in the playbook `runbook doc` writes);
    /// `manual` (text: an instruction for the operator, shown when the step starts — for actions
    /// that have no API, such as a dashboard setting — and listed in the playbook).
    /// Unknown options are errors.
    ///
    /// ```rhai
    /// step("Restore database", #{ timeout: "45m" }, || db.restore(store, set, key));
    /// step("Restore files", #{ fallback: "runbook restore-files SET /srv/mt5 --key-file KEY (see docs/format.md)" },
    ///      || store.restore_files(set, key, "/srv/mt5"));
    /// ```
    #[rhai_fn(name = "step", return_raw)]
    pub fn step_with_options(
        call: NativeCallContext,
        name: &str,
        options: Map,
        body: FnPtr,
    ) -> Res<Dynamic> {
        super::run_step(&call, name, options, body)
    }

    /// The value of parameter `name`: from `--param name=value`, else its declared default.
    /// Values given on the command line take the type of the default. A parameter declared with
    /// `secret: true` comes back as a `Secret`. Asking for an undeclared parameter is an error.
    ///
    /// ```rhai
    /// let target = param("target");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn param(call: NativeCallContext, name: &str) -> Res<Dynamic> {
        let context = run_context(&call)?;
        match context.param(name) {
            Some(ParamValue::Plain(value)) => Ok(from_json(value)),
            Some(ParamValue::Secret(secret)) => Ok(Dynamic::from(secret.clone())),
            None => Err(to_rhai(
                Error::usage(format!("parameter `{name}` is not declared"))
                    .with_hint("declare it in runbook(#{ params: #{ ... } })"),
            )),
        }
    }

    /// The environment variable `name`, from the process environment or the `.env` file.
    /// Fails, naming the variable, when it is not set. Not for secrets: use `secret(name)`.
    ///
    /// ```rhai
    /// let url = env("BACKUP_STORE_URL");
    /// ```
    #[rhai_fn(name = "env", return_raw)]
    pub fn env(call: NativeCallContext, name: &str) -> Res<String> {
        let context = run_context(&call)?;
        context
            .secrets()
            .env(name)
            .ok_or_else(|| to_rhai(context.secrets().missing(name, false)))
    }

    /// The environment variable `name`, or `fallback` when it is not set.
    ///
    /// ```rhai
    /// let dir = env("APP_DIR", "/srv/mt5");
    /// ```
    #[rhai_fn(name = "env", return_raw)]
    pub fn env_or(call: NativeCallContext, name: &str, fallback: &str) -> Res<String> {
        let context = run_context(&call)?;
        Ok(context
            .secrets()
            .env(name)
            .unwrap_or_else(|| fallback.to_string()))
    }

    /// The secret `name`: from the environment or the `.env` file, or read from the file that
    /// `NAME_FILE` points to (also when `NAME` is set but empty, as in a `.env` copied from
    /// `.env.example`). The value is masked as `***` in all output, journals and plans.
    ///
    /// ```rhai
    /// let key = secret("BACKUP_ENCRYPTION_KEY");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn secret(call: NativeCallContext, name: &str) -> Res<Secret> {
        let context = run_context(&call)?;
        context.secrets().secret(name).map_err(to_rhai)
    }

    /// Asks a yes/no question before going on. A dry-run records the question in the plan and
    /// answers yes; a live run answers yes with `--yes`, asks on a terminal, and stops with an
    /// error when there is no terminal to ask on.
    ///
    /// ```rhai
    /// if !confirm("Stop the MT5 service now?") { return; }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn confirm(call: NativeCallContext, question: &str) -> Res<bool> {
        let context = run_context(&call)?;
        context.confirm(question).map_err(to_rhai)
    }

    /// Logs a line, shown under the current step and recorded in the journal.
    ///
    /// ```rhai
    /// log(`restoring ${set.id}`);
    /// ```
    #[rhai_fn(name = "log", return_raw)]
    pub fn log(call: NativeCallContext, message: Dynamic) -> Res<()> {
        run_context(&call)?.log("info", &message.to_string());
        Ok(())
    }

    /// Logs a warning (on stderr), recorded in the journal.
    ///
    /// ```rhai
    /// warn("the newest backup is 20h old");
    /// ```
    #[rhai_fn(name = "warn", return_raw)]
    pub fn warn(call: NativeCallContext, message: Dynamic) -> Res<()> {
        run_context(&call)?.log("warn", &message.to_string());
        Ok(())
    }

    /// Waits for a duration such as `"5s"`. Ctrl-C and step timeouts end the wait early.
    ///
    /// ```rhai
    /// sleep("10s");
    /// ```
    #[rhai_fn(return_raw)]
    pub fn sleep(call: NativeCallContext, duration: &str) -> Res<()> {
        let context = run_context(&call)?;
        let duration = parse_duration("sleep", duration).map_err(to_rhai)?;
        context.sleep(duration).map_err(to_rhai)
    }

    /// This run's id (also the journal's file name), e.g. `20261204T021500Z-restore-full-3f2a`.
    ///
    /// ```rhai
    /// let scratch = `out/drill/${run_id()}`;
    /// ```
    #[rhai_fn(return_raw)]
    pub fn run_id(call: NativeCallContext) -> Res<String> {
        Ok(run_context(&call)?.run_id().to_string())
    }

    /// Whether this is a dry-run (`--dry-run`), for the rare place where a procedure must
    /// behave differently when nothing was really done — e.g. not waiting ten minutes for a
    /// service that the plan only pretended to restore. Primitives never need it: the effect
    /// gate already plans their writes.
    ///
    /// ```rhai
    /// let retries = if dry_run() { 0 } else { 30 };
    /// ```
    #[rhai_fn(return_raw)]
    pub fn dry_run(call: NativeCallContext) -> Res<bool> {
        Ok(run_context(&call)?.mode() == crate::context::gate::Mode::DryRun)
    }

    /// Time since this run started, for RTO clocks: `#{ seconds, ms, text }` (`text` like
    /// `"12m 5s"`). A resumed run (`--resume`) starts counting again.
    ///
    /// ```rhai
    /// log(`RTO clock: ${elapsed().text} of 2h`);
    /// ```
    #[rhai_fn(return_raw)]
    pub fn elapsed(call: NativeCallContext) -> Res<Map> {
        let elapsed = run_context(&call)?.elapsed();
        let whole = std::time::Duration::from_secs(elapsed.as_secs());
        let mut m = Map::new();
        m.insert("seconds".into(), (elapsed.as_secs() as rhai::INT).into());
        m.insert("ms".into(), (elapsed.as_millis() as rhai::INT).into());
        m.insert(
            "text".into(),
            crate::engine::metadata::format_duration(whole).into(),
        );
        Ok(m)
    }

    /// Stops the run with exit code 3, for a missed recovery target (RPO or RTO). (In the
    /// offline outline `runbook doc` makes, it does nothing: no real age was read.)
    ///
    /// ```rhai
    /// if age > rpo { target_missed(`newest backup is ${age} old; RPO is 24h`); }
    /// ```
    #[rhai_fn(return_raw)]
    pub fn target_missed(call: NativeCallContext, message: &str) -> Res<()> {
        // An offline plan (`runbook doc`) reads nothing real, so it cannot judge a target.
        if run_context(&call)?.mode() == crate::context::gate::Mode::Plan {
            return Ok(());
        }
        Err(to_rhai(
            Error::target_missed(message.to_string()).with_hint(
                "a recovery target was missed: check that the backup jobs run, and alert the owner",
            ),
        ))
    }
}
