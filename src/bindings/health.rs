//! The health namespace: `http_check`, `tcp_check`, `wait_until`, `notify`, `status_page`,
//! and the run hooks `on_failure` / `on_success`.

use rhai::plugin::*;
use rhai::{Dynamic, Map};

use crate::context::secrets::Secret;
use crate::error::{Error, Result};
use crate::host::health::CheckResult;

/// A check result as the script sees it.
pub fn check_map(result: &CheckResult) -> Map {
    let mut m = Map::new();
    m.insert("ok".into(), result.ok.into());
    m.insert("latency_ms".into(), (result.latency_ms as rhai::INT).into());
    m.insert("attempts".into(), (result.attempts as rhai::INT).into());
    m.insert("detail".into(), result.detail.clone().into());
    m.insert(
        "status".into(),
        result
            .status
            .map(|s| Dynamic::from(s as rhai::INT))
            .unwrap_or(Dynamic::UNIT),
    );
    m
}

/// The stand-in result of a check that the effect gate did not run (offline plan).
pub fn unchecked(what: &str) -> CheckResult {
    CheckResult {
        ok: true,
        latency_ms: 0,
        attempts: 0,
        detail: format!("{what}: not checked (offline plan)"),
        status: None,
    }
}

/// Applies the `timeout`, `retries` and `interval` options shared by the checks.
pub fn attempts(
    opts: &crate::bindings::options::Options,
    timeout: &mut std::time::Duration,
    retries: &mut u32,
    interval: &mut std::time::Duration,
) -> Result<()> {
    if let Some(t) = opts.duration("timeout")? {
        *timeout = t;
    }
    if let Some(r) = opts.int("retries")? {
        *retries = r.max(0) as u32;
    }
    if let Some(i) = opts.duration("interval")? {
        *interval = i;
    }
    Ok(())
}

/// A webhook target: must be a `Secret` (its URL holds the credential).
pub fn webhook(target: &Dynamic) -> Result<Secret> {
    target.read_lock::<Secret>().map(|s| s.clone()).ok_or_else(|| {
        Error::usage("the webhook URL must come from secret(\"NAME\"): it is a credential")
            .with_hint("put it in .env, e.g. ALERT_WEBHOOK_URL=https://hooks.slack.com/..., and pass secret(\"ALERT_WEBHOOK_URL\")")
    })
}

/// Health checks, waiting and notifications.
#[export_module]
pub mod health_api {
    use rhai::{Dynamic, FnPtr, Map, NativeCallContext};

    use super::{check_map, webhook};
    use crate::bindings::options::Options;
    use crate::bindings::{run_context, run_hooks, to_rhai};
    use crate::context::gate::Effect;
    use crate::context::secrets::Secret;
    use crate::error::Error;
    use crate::host::health::{self, HttpCheck, TcpCheck};
    use crate::host::notify::{self, Flavour, IncidentAction, Notification, Severity};

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// Checks an HTTP endpoint: `GET url`, expecting status 200.
    ///
    /// **Effect:** Read (runs in a dry-run too).
    ///
    /// ```rhai
    /// let h = http_check("http://127.0.0.1:8080/health");
    /// if !h.ok { warn(h.detail); }
    /// ```
    #[rhai_fn(name = "http_check", return_raw)]
    pub fn http_check(call: NativeCallContext, url: &str) -> Res<Map> {
        http_check_with(call, url, Map::new())
    }

    /// Checks an HTTP endpoint with options: `expect` (status, default 200), `contains` (text
    /// the body must contain), `json_path` (`"data.status"`: must exist and be truthy; or
    /// `#{ path, equals }`), `timeout` (per attempt, default `"10s"`), `retries` (extra
    /// attempts), `interval` (between attempts, default `"2s"`), `headers` (a map; values may be
    /// secrets). Returns `#{ ok, latency_ms, attempts, detail, status }`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// http_check("https://mt5.example.com/health",
    ///            #{ expect: 200, json_path: #{ path: "status", equals: "ok" }, retries: 10, interval: "15s" });
    /// ```
    #[rhai_fn(name = "http_check", return_raw)]
    pub fn http_check_with(call: NativeCallContext, url: &str, options: Map) -> Res<Map> {
        let context = run_context(&call)?;
        let headers = options.get("headers").cloned();
        let json_path = options.get("json_path").cloned();
        let opts = Options::new(
            "http_check options",
            options,
            &[
                "expect",
                "contains",
                "json_path",
                "timeout",
                "retries",
                "interval",
                "headers",
            ],
        )
        .map_err(to_rhai)?;
        let mut check = HttpCheck::new(url);
        if let Some(expect) = opts.int("expect").map_err(to_rhai)? {
            check.expect_status = u16::try_from(expect).map_err(|_| {
                to_rhai(Error::usage(format!(
                    "http_check: `expect` {expect} is not an HTTP status"
                )))
            })?;
        }
        check.contains = opts.string("contains").map_err(to_rhai)?;
        super::attempts(
            &opts,
            &mut check.timeout,
            &mut check.retries,
            &mut check.interval,
        )
        .map_err(to_rhai)?;
        match json_path.filter(|v| !v.is_unit()) {
            None => {}
            Some(v) if v.is_string() => check.json_path = Some((v.to_string(), None)),
            Some(v) => {
                let Some(map) = v.read_lock::<Map>().map(|m| m.clone()) else {
                    return Err(to_rhai(Error::usage(
                        "http_check: `json_path` is a path string or #{ path, equals }",
                    )));
                };
                let equals = map.get("equals").cloned();
                let spec = Options::new("http_check json_path", map, &["path", "equals"])
                    .map_err(to_rhai)?;
                let path = spec.string("path").map_err(to_rhai)?.ok_or_else(|| {
                    to_rhai(Error::usage("http_check: `json_path` needs a `path`"))
                })?;
                let expected = equals.map(|e| crate::engine::values::to_json(&e).0);
                check.json_path = Some((path, expected));
            }
        }
        if let Some(h) = headers.filter(|v| !v.is_unit()) {
            let Some(map) = h.read_lock::<Map>().map(|m| m.clone()) else {
                return Err(to_rhai(Error::usage("http_check: `headers` must be a map")));
            };
            for (name, value) in map {
                let value = match value.read_lock::<Secret>() {
                    Some(secret) => secret.expose().to_string(),
                    None => value.to_string(),
                };
                check.headers.push((name.to_string(), value));
            }
        }
        let action = format!("check {url}");
        let result = context
            .effect(
                Effect::Read,
                &action,
                || super::unchecked(&action),
                || health::http_check(&check, &context.control()),
            )
            .map_err(to_rhai)?;
        Ok(check_map(&result))
    }

    /// Checks that a TCP port accepts connections.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let db = tcp_check("db.internal", 5432);
    /// ```
    #[rhai_fn(name = "tcp_check", return_raw)]
    pub fn tcp_check(call: NativeCallContext, host: &str, port: rhai::INT) -> Res<Map> {
        tcp_check_with(call, host, port, Map::new())
    }

    /// Checks a TCP port with options: `timeout` (default `"10s"`), `retries`, `interval`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// tcp_check("127.0.0.1", 443, #{ timeout: "2s", retries: 5, interval: "5s" });
    /// ```
    #[rhai_fn(name = "tcp_check", return_raw)]
    pub fn tcp_check_with(
        call: NativeCallContext,
        host: &str,
        port: rhai::INT,
        options: Map,
    ) -> Res<Map> {
        let context = run_context(&call)?;
        let opts = Options::new(
            "tcp_check options",
            options,
            &["timeout", "retries", "interval"],
        )
        .map_err(to_rhai)?;
        let port = u16::try_from(port)
            .map_err(|_| to_rhai(Error::usage(format!("tcp_check: {port} is not a port"))))?;
        let mut check = TcpCheck::new(host, port);
        super::attempts(
            &opts,
            &mut check.timeout,
            &mut check.retries,
            &mut check.interval,
        )
        .map_err(to_rhai)?;
        let action = format!("check tcp {host}:{port}");
        let result = context
            .effect(
                Effect::Read,
                &action,
                || super::unchecked(&action),
                || health::tcp_check(&check, &context.control()),
            )
            .map_err(to_rhai)?;
        Ok(check_map(&result))
    }

    /// Checks a Postgres database: connects and runs `SELECT 1` read-only. The target is a
    /// `postgres(...)` handle or a secret holding the URL. Returns `#{ ok, latency_ms,
    /// attempts, detail }`; a server that is down or refuses the password is `ok: false`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let db_ok = pg_check(secret("DATABASE_URL"));
    /// ```
    #[rhai_fn(name = "pg_check", return_raw)]
    pub fn pg_check(call: NativeCallContext, target: Dynamic) -> Res<Map> {
        pg_check_with(call, target, Map::new())
    }

    /// Checks a Postgres database with options: `query` (default `"SELECT 1"`, run
    /// read-only), `expect` (the first column of the first row, compared as text), `timeout`
    /// (per attempt, default `"10s"`), `retries`, `interval`.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let check = pg_check(db, #{ query: "SELECT count(*) FROM app.accounts", expect: "3",
    ///                             retries: 5, interval: "2s" });
    /// if !check.ok { warn(check.detail); }
    /// ```
    #[rhai_fn(name = "pg_check", return_raw)]
    pub fn pg_check_with(call: NativeCallContext, target: Dynamic, options: Map) -> Res<Map> {
        use crate::host::postgres::check::{pg_check, PgCheck};
        let context = run_context(&call)?;
        let opts = Options::new(
            "pg_check options",
            options,
            &["query", "expect", "timeout", "retries", "interval"],
        )
        .map_err(to_rhai)?;
        let db = if let Some(db) = target.read_lock::<crate::host::postgres::Database>() {
            db.clone()
        } else if let Some(url) = target.read_lock::<Secret>() {
            let spec = crate::host::postgres::conn::ConnSpec::parse(url.expose())
                .map_err(|e| to_rhai(e.context(format!("secret {}", url.name()))))?;
            crate::host::postgres::Database::new(spec, Default::default())
        } else {
            return Err(to_rhai(
                Error::usage("pg_check needs a postgres(...) handle or a secret holding the URL")
                    .with_hint("pg_check(secret(\"DATABASE_URL\")) or pg_check(postgres(secret(\"DATABASE_URL\")))"),
            ));
        };
        let mut check = PgCheck::default();
        if let Some(query) = opts.string("query").map_err(to_rhai)? {
            check.query = query;
        }
        check.expect = match opts.get("expect") {
            None => None,
            Some(v) if v.is_string() => Some(v.clone().into_string().unwrap_or_default()),
            Some(v) => Some(v.to_string()),
        };
        super::attempts(
            &opts,
            &mut check.timeout,
            &mut check.retries,
            &mut check.interval,
        )
        .map_err(to_rhai)?;
        let result = pg_check(&db, &check, &context.control()).map_err(to_rhai)?;
        Ok(check_map(&result))
    }

    /// Calls `probe` until it returns `true`, or until `timeout` (e.g. `"10m"`) has passed,
    /// every `interval` (default `"5s"`). Returns `#{ ok, attempts, elapsed_ms }`; not becoming
    /// ready is `ok: false`, not an error.
    ///
    /// **Effect:** none of its own (the probe's primitives have theirs).
    ///
    /// ```rhai
    /// let ready = wait_until(|| http_check("http://127.0.0.1:8080/health").ok,
    ///                        #{ timeout: "10m", interval: "10s" });
    /// ```
    #[rhai_fn(name = "wait_until", return_raw)]
    pub fn wait_until(call: NativeCallContext, probe: FnPtr, options: Map) -> Res<Map> {
        let context = run_context(&call)?;
        let opts = Options::new(
            "wait_until options",
            options,
            &["timeout", "interval", "label"],
        )
        .map_err(to_rhai)?;
        let timeout = opts.duration("timeout").map_err(to_rhai)?.ok_or_else(|| {
            to_rhai(Error::usage(
                "wait_until needs a `timeout`, e.g. #{ timeout: \"10m\" }",
            ))
        })?;
        let interval = opts
            .duration("interval")
            .map_err(to_rhai)?
            .unwrap_or(std::time::Duration::from_secs(5));
        let label = opts
            .string("label")
            .map_err(to_rhai)?
            .unwrap_or_else(|| "condition".into());
        let script_error = std::cell::RefCell::new(None);
        // Waiting only looks (the probe's primitives have their own effects), but it takes time:
        // an offline plan does not wait.
        let result = context.effect(
            Effect::Read,
            &format!("wait until {label}"),
            || health::WaitResult {
                ok: true,
                attempts: 0,
                elapsed_ms: 0,
            },
            || {
                health::wait_until(
                    || match probe.call_within_context::<Dynamic>(&call, ()) {
                        Ok(v) => Ok(v.as_bool().unwrap_or(false)),
                        Err(e) => {
                            *script_error.borrow_mut() = Some(e);
                            Err(Error::failed("the probe failed"))
                        }
                    },
                    timeout,
                    interval,
                    &context.control(),
                    &label,
                )
            },
        );
        match result {
            Ok(r) => {
                let mut m = Map::new();
                m.insert("ok".into(), r.ok.into());
                m.insert("attempts".into(), (r.attempts as rhai::INT).into());
                m.insert("elapsed_ms".into(), (r.elapsed_ms as rhai::INT).into());
                Ok(m)
            }
            Err(e) => Err(script_error.into_inner().unwrap_or_else(|| to_rhai(e))),
        }
    }

    /// Sends `message` to a webhook (a `secret(...)` URL), flavour guessed from the URL
    /// (Slack, Teams, else generic JSON), severity `info`.
    ///
    /// **Effect:** Write (a dry-run plans it; a failure to deliver is an error the script may
    /// catch).
    ///
    /// ```rhai
    /// notify(secret("ALERT_WEBHOOK_URL"), "database restore finished");
    /// ```
    #[rhai_fn(name = "notify", return_raw)]
    pub fn notify(call: NativeCallContext, target: Dynamic, message: &str) -> Res<()> {
        notify_with(call, target, message, Map::new())
    }

    /// Sends a notification with options: `severity` (`info`, `warning`, `critical`), `title`,
    /// `flavour` (`slack`, `teams`, `generic`), `fields` (a map shown as key/value lines).
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// notify(secret("ALERT_WEBHOOK_URL"), "restore failed", #{ severity: "critical",
    ///        title: "MT5 DR", fields: #{ step: "Restore database" } });
    /// ```
    #[rhai_fn(name = "notify", return_raw)]
    pub fn notify_with(
        call: NativeCallContext,
        target: Dynamic,
        message: &str,
        options: Map,
    ) -> Res<()> {
        let context = run_context(&call)?;
        let url = webhook(&target).map_err(to_rhai)?;
        let fields = options.get("fields").cloned();
        let opts = Options::new(
            "notify options",
            options,
            &["severity", "title", "flavour", "fields"],
        )
        .map_err(to_rhai)?;
        let severity = match opts.string("severity").map_err(to_rhai)? {
            Some(s) => Severity::parse(&s).map_err(to_rhai)?,
            None => Severity::Info,
        };
        let flavour = match opts.string("flavour").map_err(to_rhai)? {
            Some(f) => Flavour::parse(&f).map_err(to_rhai)?,
            None => Flavour::detect(&url),
        };
        let title = opts
            .string("title")
            .map_err(to_rhai)?
            .unwrap_or_else(|| "runbook".into());
        let mut note = Notification::new(title.clone(), message, severity);
        if let Some(map) = fields.and_then(|f| f.read_lock::<Map>().map(|m| m.clone())) {
            for (k, v) in map {
                note = note.field(k.to_string(), v.to_string());
            }
        }
        let action = format!(
            "send the {} notification \"{title}\" ({}) to {}",
            flavour.name(),
            severity.as_str(),
            url.name()
        );
        context
            .effect(
                Effect::Write,
                &action,
                || (),
                || notify::send(&url, flavour, &note, &context.control()),
            )
            .map_err(to_rhai)
    }

    /// Updates a status page through its webhook: `action` is `open`, `update` or `resolve`;
    /// options `id` (the incident id), `title`, `message`, `severity`.
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// status_page(secret("STATUS_WEBHOOK_URL"), "open",
    ///             #{ id: run_id(), title: "Trading service degraded", message: "Restoring", severity: "critical" });
    /// ```
    #[rhai_fn(name = "status_page", return_raw)]
    pub fn status_page(
        call: NativeCallContext,
        target: Dynamic,
        action: &str,
        options: Map,
    ) -> Res<()> {
        let context = run_context(&call)?;
        let url = webhook(&target).map_err(to_rhai)?;
        let action = IncidentAction::parse(action).map_err(to_rhai)?;
        let opts = Options::new(
            "status_page options",
            options,
            &["id", "title", "message", "severity"],
        )
        .map_err(to_rhai)?;
        let id = opts
            .string("id")
            .map_err(to_rhai)?
            .unwrap_or_else(|| context.run_id().to_string());
        let title = opts.string("title").map_err(to_rhai)?.unwrap_or_default();
        let message = opts.string("message").map_err(to_rhai)?.unwrap_or_default();
        let severity = match opts.string("severity").map_err(to_rhai)? {
            Some(s) => Severity::parse(&s).map_err(to_rhai)?,
            None => Severity::Warning,
        };
        let body = notify::status_page_payload(action, &id, &title, &message, severity);
        let plan = format!(
            "{} status-page incident {id} \"{title}\" via {}",
            action.as_str(),
            url.name()
        );
        context
            .effect(
                Effect::Write,
                &plan,
                || (),
                || {
                    notify::send_json(
                        &url,
                        "status page",
                        &body,
                        &notify::RetryPolicy::DEFAULT,
                        &context.control(),
                    )
                },
            )
            .map_err(to_rhai)
    }

    /// Registers a closure to run after the script when the run failed. It receives the run
    /// summary `#{ runbook, title, run_id, status, failed_step, error, duration_ms, steps,
    /// contacts, escalation }`. A failing hook is reported as a warning and never changes the
    /// run's exit code. Not run after Ctrl-C.
    ///
    /// ```rhai
    /// on_failure(|run| notify(secret("ALERT_WEBHOOK_URL"),
    ///     `${run.title} failed at "${run.failed_step}": ${run.error}`, #{ severity: "critical" }));
    /// ```
    #[rhai_fn(name = "on_failure", return_raw)]
    pub fn on_failure(call: NativeCallContext, hook: FnPtr) -> Res<()> {
        run_hooks(&call)?.on_failure.borrow_mut().push(hook);
        Ok(())
    }

    /// Registers a closure to run after the script when the run succeeded, with the run summary
    /// (see `on_failure`).
    ///
    /// ```rhai
    /// on_success(|run| notify(secret("ALERT_WEBHOOK_URL"), `${run.title} done in ${run.duration_ms} ms`));
    /// ```
    #[rhai_fn(name = "on_success", return_raw)]
    pub fn on_success(call: NativeCallContext, hook: FnPtr) -> Res<()> {
        run_hooks(&call)?.on_success.borrow_mut().push(hook);
        Ok(())
    }
}
