//! The Supabase namespace: `supabase(#{ project_ref, token, api_url })` and the handle's methods
//! over the Management API client in [`crate::host::supabase`] — platform backups and their
//! freshness, the PITR window and PITR restores, the daily backup schedule, service health and
//! project status.
//!
//! Values reach scripts as plain maps (so steps journal them and `--resume` hands them back).
//! Every call goes through the effect gate: reads run in a dry-run too, the schedule change is a
//! Write, and a PITR restore is Destructive (confirmed live, only planned in a dry-run).

use std::rc::Rc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rhai::{Array, Dynamic, Map};

use crate::bindings::health::check_map;
use crate::bindings::options::Options;
use crate::context::gate::Effect;
use crate::context::output::short_duration;
use crate::context::secrets::Secret;
use crate::context::RunContext;
use crate::error::{Error, Result};
use crate::host::health::CheckResult;
use crate::host::supabase::{
    self, Backup, BackupSchedule, HealthReport, ManagementApi, PitrWindow,
};

/// A Supabase project reached through the Management API, from `supabase(#{ ... })`.
#[derive(Clone)]
pub struct Supabase {
    api: Rc<ManagementApi>,
}

impl Supabase {
    /// `supabase project <ref>` (never the token).
    pub fn describe(&self) -> String {
        self.api.describe()
    }
}

fn text_or_unit(v: Option<String>) -> Dynamic {
    v.map(Dynamic::from).unwrap_or(Dynamic::UNIT)
}

fn time_or_unit(t: Option<DateTime<Utc>>) -> Dynamic {
    text_or_unit(t.map(|t| t.to_rfc3339()))
}

/// A backup as the script sees it: `#{ id, status, physical, inserted_at }`.
pub fn backup_map(b: &Backup) -> Map {
    let mut m = Map::new();
    m.insert(
        "id".into(),
        b.id.map(|i| Dynamic::from(i as rhai::INT))
            .unwrap_or(Dynamic::UNIT),
    );
    m.insert("status".into(), b.status.as_str().to_string().into());
    m.insert("physical".into(), b.is_physical_backup.into());
    m.insert("inserted_at".into(), b.inserted_at.to_rfc3339().into());
    m
}

/// The PITR window as the script sees it: `#{ enabled, earliest, latest }`.
pub fn pitr_map(w: &PitrWindow) -> Map {
    let mut m = Map::new();
    m.insert("enabled".into(), w.enabled.into());
    m.insert("earliest".into(), time_or_unit(w.earliest));
    m.insert("latest".into(), time_or_unit(w.latest));
    m
}

fn schedule_map(s: &BackupSchedule) -> Map {
    let mut m = Map::new();
    m.insert("schedule_for".into(), s.schedule_for.clone().into());
    m.insert("updated_at".into(), text_or_unit(s.updated_at.clone()));
    m
}

/// A health report in the shape of the other checks, plus `services`.
pub fn health_map(r: &HealthReport) -> Map {
    let mut m = check_map(&CheckResult {
        ok: r.ok,
        latency_ms: r.latency_ms,
        attempts: r.attempts,
        detail: r.detail.clone(),
        status: None,
    });
    let services: Array = r
        .services
        .iter()
        .map(|s| {
            let mut sm = Map::new();
            sm.insert("name".into(), s.name.clone().into());
            sm.insert("status".into(), s.status.clone().into());
            sm.insert("healthy".into(), s.ok().into());
            sm.insert("error".into(), text_or_unit(s.error.clone()));
            sm.into()
        })
        .collect();
    m.insert("services".into(), services.into());
    m
}

/// Decodes `supabase(#{ project_ref, token, api_url })`. Opening calls no API.
pub fn open(options: Map) -> Result<Supabase> {
    let what = "supabase(#{ ... })";
    let token = options.get("token").filter(|v| !v.is_unit()).cloned();
    let opts = Options::new(what, options, &["project_ref", "token", "api_url"])?;
    let use_secret = "put the token in .env or the environment and write token: secret(\"SUPABASE_ACCESS_TOKEN\")";
    let token = match token {
        None => {
            return Err(
                Error::usage(format!("{what}: option `token` is required")).with_hint(use_secret)
            )
        }
        Some(v) => v.read_lock::<Secret>().map(|s| s.clone()).ok_or_else(|| {
            Error::usage(format!(
                "{what}: option `token` must come from secret(\"SUPABASE_ACCESS_TOKEN\"), not from the script text"
            ))
            .with_hint(use_secret)
        })?,
    };
    let project_ref = opts.string("project_ref")?.ok_or_else(|| {
        Error::usage(format!("{what}: option `project_ref` is required"))
            .with_hint("e.g. project_ref: env(\"SUPABASE_PROJECT_REF\") (20 lowercase letters)")
    })?;
    let api_url = opts
        .string("api_url")?
        .unwrap_or_else(|| supabase::DEFAULT_BASE_URL.into());
    Ok(Supabase {
        api: Rc::new(ManagementApi::new(&api_url, token, &project_ref)?),
    })
}

/// `backups()`.
pub fn backups(context: &RunContext, sb: &Supabase) -> Result<Array> {
    let action = format!("list the backups of {}", sb.describe());
    context.effect(Effect::Read, &action, Array::new, || {
        let list = sb.api.backups(&context.control())?;
        Ok(list.backups.iter().map(|b| backup_map(b).into()).collect())
    })
}

/// `latest_backup()`.
pub fn latest_backup(context: &RunContext, sb: &Supabase) -> Result<Dynamic> {
    let action = format!("find the newest completed backup of {}", sb.describe());
    context.effect(
        Effect::Read,
        &action,
        || Dynamic::UNIT,
        || {
            Ok(match sb.api.newest_completed_backup(&context.control())? {
                Some(b) => Dynamic::from_map(backup_map(&b)),
                None => Dynamic::UNIT,
            })
        },
    )
}

/// `check_backups(#{ max_age })`.
pub fn check_backups(context: &RunContext, sb: &Supabase, options: Map) -> Result<Map> {
    let opts = Options::new("check_backups options", options, &["max_age"])?;
    let max_age = opts.duration("max_age")?.ok_or_else(|| {
        Error::usage("check_backups: option `max_age` is required")
            .with_hint("give the RPO, e.g. #{ max_age: \"24h\" }")
    })?;
    let action = format!(
        "check that the newest backup of {} is at most {} old",
        sb.describe(),
        short_duration(max_age)
    );
    context.effect(Effect::Read, &action, Map::new, || {
        let list = sb.api.backups(&context.control())?;
        let f = list.freshness(max_age, Utc::now());
        let mut m = Map::new();
        m.insert("ok".into(), f.ok.into());
        m.insert("age".into(), text_or_unit(f.age.map(short_duration)));
        m.insert(
            "age_seconds".into(),
            f.age
                .map(|a| Dynamic::from(a.as_secs() as rhai::INT))
                .unwrap_or(Dynamic::UNIT),
        );
        m.insert("newest".into(), time_or_unit(f.newest));
        m.insert("source".into(), f.source.to_string().into());
        m.insert("detail".into(), f.detail.into());
        m.insert("pitr_enabled".into(), f.pitr_enabled.into());
        m.insert("max_age".into(), short_duration(max_age).into());
        Ok(m)
    })
}

/// `pitr()`.
pub fn pitr(context: &RunContext, sb: &Supabase) -> Result<Map> {
    let action = format!("read the PITR window of {}", sb.describe());
    context.effect(Effect::Read, &action, Map::new, || {
        Ok(pitr_map(&sb.api.pitr_window(&context.control())?))
    })
}

/// Parses an RFC 3339 time for `restore_pitr`.
fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::usage(format!(
                "restore_pitr: \"{text}\" is not an RFC 3339 time ({e})"
            ))
            .with_hint("write it like \"2026-12-04T01:30:00Z\"; see supabase.pitr() for the window")
        })
}

/// `restore_pitr(time)`.
pub fn restore_pitr(context: &RunContext, sb: &Supabase, time: &str) -> Result<Map> {
    let target = parse_time(time)?;
    let window = context.effect(
        Effect::Read,
        &format!("read the PITR window of {}", sb.describe()),
        || PitrWindow {
            enabled: false,
            earliest: None,
            latest: None,
        },
        || sb.api.pitr_window(&context.control()),
    )?;
    window.check(target)?;
    let unix = target.timestamp();
    let note = if window.enabled {
        String::new()
    } else {
        context.log(
            "warn",
            &format!(
                "{} reports PITR as not enabled; the API will likely refuse the restore",
                sb.describe()
            ),
        );
        " (warning: the project reports PITR as not enabled)".to_string()
    };
    let action = format!(
        "restore the database of {} to {} (recovery_time_target_unix {unix}) with PITR: the project is unavailable while it restores, and every change after that time is lost{note}",
        sb.describe(),
        target.to_rfc3339()
    );
    let result = || {
        let mut m = Map::new();
        m.insert(
            "project_ref".into(),
            sb.api.project_ref().to_string().into(),
        );
        m.insert("target".into(), target.to_rfc3339().into());
        m.insert("target_unix".into(), (unix as rhai::INT).into());
        m
    };
    context.effect(Effect::Destructive, &action, result, || {
        sb.api.restore_pitr_unchecked(target, &context.control())?;
        Ok(result())
    })
}

/// `backup_schedule()`.
pub fn backup_schedule(context: &RunContext, sb: &Supabase) -> Result<Map> {
    let action = format!("read the daily backup schedule of {}", sb.describe());
    context.effect(Effect::Read, &action, Map::new, || {
        Ok(schedule_map(&sb.api.backup_schedule(&context.control())?))
    })
}

/// `set_backup_schedule(time)`.
pub fn set_backup_schedule(context: &RunContext, sb: &Supabase, time: &str) -> Result<Map> {
    supabase::validate_schedule(time)?;
    let action = format!(
        "set the daily backup time of {} to {time} UTC (Supabase allows 3 changes per 24 hours)",
        sb.describe()
    );
    context.effect(
        Effect::Write,
        &action,
        || {
            schedule_map(&BackupSchedule {
                schedule_for: time.to_string(),
                updated_at: None,
            })
        },
        || {
            Ok(schedule_map(
                &sb.api.set_backup_schedule(time, &context.control())?,
            ))
        },
    )
}

/// `health(services[, #{ timeout, retries, interval }])`.
pub fn health(context: &RunContext, sb: &Supabase, services: Array, options: Map) -> Result<Map> {
    let services = services
        .into_iter()
        .map(|s| {
            s.into_string().map_err(|t| {
                Error::usage(format!(
                    "supabase health: services are names (strings), not {t}"
                ))
            })
        })
        .collect::<Result<Vec<String>>>()?;
    supabase::validate_services(&services)?;
    let opts = Options::new(
        "supabase health options",
        options,
        &["timeout", "retries", "interval"],
    )?;
    let timeout_ms = opts.duration("timeout")?.map(|t| t.as_millis() as u64);
    let retries = opts.int("retries")?.unwrap_or(0).max(0) as u32;
    let interval = opts.duration("interval")?.unwrap_or(Duration::from_secs(5));
    let action = format!(
        "check the health of {} on {}",
        services.join(", "),
        sb.describe()
    );
    context.effect(Effect::Read, &action, Map::new, || {
        let report =
            sb.api
                .health_check(&services, timeout_ms, retries, interval, &context.control())?;
        Ok(health_map(&report))
    })
}

/// `status()`.
pub fn status(context: &RunContext, sb: &Supabase) -> Result<Map> {
    let action = format!("read the status of {}", sb.describe());
    context.effect(Effect::Read, &action, Map::new, || {
        let p = sb.api.project_status(&context.control())?;
        let mut m = Map::new();
        m.insert("ref".into(), p.project_ref.into());
        m.insert("name".into(), p.name.into());
        m.insert("region".into(), p.region.into());
        m.insert("healthy".into(), (p.status == "ACTIVE_HEALTHY").into());
        m.insert("status".into(), p.status.into());
        Ok(m)
    })
}

/// Supabase: platform backups, PITR, backup schedule, health and status.
#[rhai::plugin::export_module]
pub mod supabase_api {
    use rhai::{Array, Dynamic, Map, NativeCallContext};

    use crate::bindings::{run_context, to_rhai};

    type Res<T> = Result<T, Box<rhai::EvalAltResult>>;

    /// A Supabase project reached through the Management API. Opened with `supabase(#{ ... })`.
    pub type Supabase = super::Supabase;

    /// A handle on one Supabase project's Management API. Options: `project_ref` (20 lowercase
    /// letters, from the project URL), `token` (a personal access token; only as
    /// `secret("SUPABASE_ACCESS_TOKEN")`), `api_url` (default `https://api.supabase.com`).
    /// Unknown options are errors naming the option. Rate limits (429) are waited out and
    /// retried.
    ///
    /// **Effect:** none; opening calls no API.
    ///
    /// ```rhai
    /// let sb = supabase(#{ project_ref: env("SUPABASE_PROJECT_REF"),
    ///                      token: secret("SUPABASE_ACCESS_TOKEN") });
    /// ```
    #[rhai_fn(name = "supabase", return_raw)]
    pub fn supabase(call: NativeCallContext, options: Map) -> Res<Supabase> {
        let context = run_context(&call)?;
        // Opening contacts nothing; like `storage(...)` it passes the effect gate, and an
        // offline plan (`runbook doc`, placeholder env and secrets) gets a placeholder
        // project, whose every use the gate simulates too.
        let mut placeholder = options.clone();
        placeholder.insert("project_ref".into(), "offlineplanprojectrf".into());
        placeholder.remove("api_url");
        context
            .effect(
                Effect::Read,
                "open the Supabase project",
                || super::open(placeholder),
                || Ok(super::open(options)),
            )
            .and_then(|sb| sb)
            .map_err(to_rhai)
    }

    /// `Supabase(supabase project abcdefghijklmnopqrst)`: the project, never the token.
    #[rhai_fn(global, name = "to_string", name = "to_debug", pure)]
    pub fn supabase_to_string(sb: &mut Supabase) -> String {
        format!("Supabase({})", sb.describe())
    }

    /// The project's daily platform backups as maps `#{ id, status, physical, inserted_at }`
    /// (`status`: `COMPLETED`, `FAILED`, `PENDING`, `REMOVED`, `ARCHIVED`, `CANCELLED` or a
    /// newer word; `id` is `()` where the API omits it).
    ///
    /// **Effect:** Read (runs in a dry-run too).
    ///
    /// ```rhai
    /// for b in sb.backups() { log(`${b.inserted_at} ${b.status}`); }
    /// ```
    #[rhai_fn(global, name = "backups", return_raw)]
    pub fn backups(call: NativeCallContext, sb: &mut Supabase) -> Res<Array> {
        let context = run_context(&call)?;
        super::backups(&context, sb).map_err(to_rhai)
    }

    /// The newest `COMPLETED` backup as a map (see `backups`), or `()` when there is none.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let b = sb.latest_backup();
    /// if b == () { warn("no completed Supabase backup"); }
    /// ```
    #[rhai_fn(global, name = "latest_backup", return_raw)]
    pub fn latest_backup(call: NativeCallContext, sb: &mut Supabase) -> Res<Dynamic> {
        let context = run_context(&call)?;
        super::latest_backup(&context, sb).map_err(to_rhai)
    }

    /// Checks backup freshness against `max_age` (the RPO, e.g. `"24h"`). Returns `#{ ok, age,
    /// age_seconds, newest, source, detail, pitr_enabled, max_age }`; `ok` is false when the
    /// newest recoverable point is older than `max_age` or there is none. With PITR enabled
    /// the newest point is PITR's latest recovery point, else the newest `COMPLETED` daily
    /// backup. Not fresh is a finding, not an error: call `target_missed` to exit with code 3.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let c = sb.check_backups(#{ max_age: "24h" });
    /// if !c.ok { target_missed(`Supabase backups: ${c.detail}`); }
    /// ```
    #[rhai_fn(global, name = "check_backups", return_raw)]
    pub fn check_backups(call: NativeCallContext, sb: &mut Supabase, options: Map) -> Res<Map> {
        let context = run_context(&call)?;
        super::check_backups(&context, sb, options).map_err(to_rhai)
    }

    /// The point-in-time-recovery window: `#{ enabled, earliest, latest }` (RFC 3339 times, or
    /// `()` when PITR is off).
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let w = sb.pitr();
    /// if w.enabled { log(`PITR can restore ${w.earliest} … ${w.latest}`); }
    /// ```
    #[rhai_fn(global, name = "pitr", return_raw)]
    pub fn pitr(call: NativeCallContext, sb: &mut Supabase) -> Res<Map> {
        let context = run_context(&call)?;
        super::pitr(&context, sb).map_err(to_rhai)
    }

    /// Restores the project's database to `time` (RFC 3339, e.g. `"2026-12-04T01:30:00Z"`)
    /// with PITR. A time outside the PITR window is refused before anything is sent. The project
    /// is unavailable while it restores and every change after `time` is lost; watch it with
    /// `status()` / `health()`. Returns `#{ project_ref, target, target_unix }`.
    ///
    /// **Effect:** Destructive (asks for confirmation live; only planned in a dry-run).
    ///
    /// ```rhai
    /// step("Restore database to before the incident", || sb.restore_pitr(param("restore_to")));
    /// ```
    #[rhai_fn(global, name = "restore_pitr", return_raw)]
    pub fn restore_pitr(call: NativeCallContext, sb: &mut Supabase, time: &str) -> Res<Map> {
        let context = run_context(&call)?;
        super::restore_pitr(&context, sb, time).map_err(to_rhai)
    }

    /// The daily backup time: `#{ schedule_for, updated_at }` (`schedule_for` is `HH:MM:SS`
    /// UTC). Plans without the feature get an error saying so.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// log(`daily backups at ${sb.backup_schedule().schedule_for} UTC`);
    /// ```
    #[rhai_fn(global, name = "backup_schedule", return_raw)]
    pub fn backup_schedule(call: NativeCallContext, sb: &mut Supabase) -> Res<Map> {
        let context = run_context(&call)?;
        super::backup_schedule(&context, sb).map_err(to_rhai)
    }

    /// Sets the daily backup time to `time` (`HH:MM:SS`, UTC); Supabase allows 3 changes per
    /// 24 hours. Returns the new schedule map.
    ///
    /// **Effect:** Write.
    ///
    /// ```rhai
    /// sb.set_backup_schedule("01:30:00");
    /// ```
    #[rhai_fn(global, name = "set_backup_schedule", return_raw)]
    pub fn set_backup_schedule(call: NativeCallContext, sb: &mut Supabase, time: &str) -> Res<Map> {
        let context = run_context(&call)?;
        super::set_backup_schedule(&context, sb, time).map_err(to_rhai)
    }

    /// Checks the project's services (`auth`, `db`, `db_postgres_user`, `pooler`, `realtime`,
    /// `rest`, `storage`, `pg_bouncer`). Returns `#{ ok, latency_ms, attempts, detail, status,
    /// services }` like the other checks (`status` is `()`: there is no single HTTP status),
    /// with `services: [#{ name, status, healthy, error }]`; `ok` only when every service is
    /// `ACTIVE_HEALTHY`. An unhealthy service is `ok: false`, not an error; a refused token is.
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let h = sb.health(["db", "auth"]);
    /// if !h.ok { warn(h.detail); }
    /// ```
    #[rhai_fn(global, name = "health", return_raw)]
    pub fn health(call: NativeCallContext, sb: &mut Supabase, services: Array) -> Res<Map> {
        let context = run_context(&call)?;
        super::health(&context, sb, services, Map::new()).map_err(to_rhai)
    }

    /// Checks services with options: `timeout` (the API's own wait, at most `"10s"`),
    /// `retries` (extra attempts while not all are healthy, e.g. after a restore) and
    /// `interval` (between attempts, default `"5s"`).
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let h = sb.health(["db", "rest"], #{ timeout: "5s", retries: 20, interval: "30s" });
    /// ```
    #[rhai_fn(global, name = "health", return_raw)]
    pub fn health_with(
        call: NativeCallContext,
        sb: &mut Supabase,
        services: Array,
        options: Map,
    ) -> Res<Map> {
        let context = run_context(&call)?;
        super::health(&context, sb, services, options).map_err(to_rhai)
    }

    /// The project's overall state: `#{ ref, name, region, status, healthy }` (`status`:
    /// `ACTIVE_HEALTHY`, `RESTORING`, `COMING_UP`, `RESTORE_FAILED`, ...; `healthy` when
    /// `ACTIVE_HEALTHY`).
    ///
    /// **Effect:** Read.
    ///
    /// ```rhai
    /// let ready = wait_until(|| sb.status().healthy, #{ timeout: "1h", interval: "30s" });
    /// ```
    #[rhai_fn(global, name = "status", return_raw)]
    pub fn status(call: NativeCallContext, sb: &mut Supabase) -> Res<Map> {
        let context = run_context(&call)?;
        super::status(&context, sb).map_err(to_rhai)
    }
}
