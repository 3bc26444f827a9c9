//! The Supabase Management API (`https://api.supabase.com/v1`): platform backups, point-in-time
//! recovery (PITR), the daily backup schedule, service health and project status, following
//! `shared/reference/supabase.md` §1.
//!
//! - Backups: `GET /v1/projects/{ref}/database/backups` → `V1BackupsResponse`. `id` is optional
//!   (older deployments omit it), unknown `status` values are kept as they are, and
//!   `physical_backup_data` may be `{}` (PITR off).
//! - PITR restore: `POST …/database/backups/restore-pitr` with
//!   `{"recovery_time_target_unix": <integer>}` → 201. A target outside the known PITR window is
//!   refused before any call; a project without PITR gets the API's 400, explained.
//! - Schedule: `GET` / `PATCH …/database/backups/schedule` with `{"schedule_for":"HH:MM:SS"}`
//!   (UTC); lower plans get 402.
//! - Health: `GET /v1/projects/{ref}/health?services=db&services=auth&timeout_ms=…` (repeated
//!   keys) → `[{name, healthy, status, error?, info?}]`; project status from
//!   `GET /v1/projects/{ref}`.
//!
//! Requests go through [`HttpClient`]: retries with jittered backoff, and on 429 a wait for
//! `X-RateLimit-Reset` (seconds from now). Every error says what to do next; the access token is
//! a [`Secret`] and is scrubbed from every message.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::context::control::Control;
use crate::context::output::short_duration;
use crate::context::secrets::Secret;
use crate::error::{Error, Result};
use crate::host::http::{
    form_encode, sleep_checked, ApiError, ApiRequest, Body, HttpClient, RateLimitHeaders,
    RetryPolicy,
};

/// The public Management API.
pub const DEFAULT_BASE_URL: &str = "https://api.supabase.com";

/// The services `GET /v1/projects/{ref}/health` knows.
pub const SERVICES: &[&str] = &[
    "auth",
    "db",
    "db_postgres_user",
    "pooler",
    "realtime",
    "rest",
    "storage",
    "pg_bouncer",
];

/// The largest `timeout_ms` the health endpoint accepts.
pub const MAX_HEALTH_TIMEOUT_MS: u64 = 10_000;

/// Where to create an access token.
const TOKEN_PAGE: &str = "https://supabase.com/dashboard/account/tokens";

/// Checks a project ref: exactly 20 lowercase letters.
pub fn validate_ref(project_ref: &str) -> Result<()> {
    if project_ref.len() != 20 || !project_ref.chars().all(|c| c.is_ascii_lowercase()) {
        return Err(Error::usage(format!(
            "supabase: \"{project_ref}\" is not a project ref (exactly 20 lowercase letters)"
        ))
        .with_hint("find it in the project URL: https://<ref>.supabase.co, or under Project Settings → General"));
    }
    Ok(())
}

/// Checks a schedule time `HH:MM:SS` (UTC, 24-hour clock).
pub fn validate_schedule(schedule_for: &str) -> Result<()> {
    let ok = schedule_for.len() == 8
        && chrono::NaiveTime::parse_from_str(schedule_for, "%H:%M:%S").is_ok();
    if !ok {
        return Err(Error::usage(format!(
            "supabase: backup schedule \"{schedule_for}\" is not a time of day HH:MM:SS"
        ))
        .with_hint("write it like \"04:00:00\" (UTC, 24-hour clock)"));
    }
    Ok(())
}

/// Checks service names for the health endpoint against [`SERVICES`].
pub fn validate_services(services: &[String]) -> Result<()> {
    if services.is_empty() {
        return Err(
            Error::usage("supabase health: name at least one service").with_hint(format!(
                "services are: {}; e.g. [\"db\", \"auth\"]",
                SERVICES.join(", ")
            )),
        );
    }
    for s in services {
        if !SERVICES.contains(&s.as_str()) {
            return Err(
                Error::usage(format!("supabase health: unknown service \"{s}\""))
                    .with_hint(format!("services are: {}", SERVICES.join(", "))),
            );
        }
    }
    Ok(())
}

/// What state a platform backup is in. Values this code does not know are kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum BackupStatus {
    /// Finished and restorable.
    Completed,
    /// Failed.
    Failed,
    /// Still running.
    Pending,
    /// Removed (retention).
    Removed,
    /// Archived.
    Archived,
    /// Cancelled.
    Cancelled,
    /// A status newer than this code.
    Other(String),
}

impl BackupStatus {
    /// The API's word for it.
    pub fn as_str(&self) -> &str {
        match self {
            BackupStatus::Completed => "COMPLETED",
            BackupStatus::Failed => "FAILED",
            BackupStatus::Pending => "PENDING",
            BackupStatus::Removed => "REMOVED",
            BackupStatus::Archived => "ARCHIVED",
            BackupStatus::Cancelled => "CANCELLED",
            BackupStatus::Other(s) => s,
        }
    }
}

impl From<String> for BackupStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "COMPLETED" => BackupStatus::Completed,
            "FAILED" => BackupStatus::Failed,
            "PENDING" => BackupStatus::Pending,
            "REMOVED" => BackupStatus::Removed,
            "ARCHIVED" => BackupStatus::Archived,
            "CANCELLED" => BackupStatus::Cancelled,
            _ => BackupStatus::Other(s),
        }
    }
}

/// One platform backup.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Backup {
    /// The backup's id (absent from older deployments).
    #[serde(default)]
    pub id: Option<i64>,
    /// Whether it is a physical (WAL-G) backup rather than a logical dump.
    #[serde(default)]
    pub is_physical_backup: bool,
    /// Its state.
    pub status: BackupStatus,
    /// When it was taken.
    pub inserted_at: DateTime<Utc>,
}

/// The PITR range, as UNIX seconds; both are absent when PITR is off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PhysicalBackupData {
    /// The earliest point PITR can restore to.
    #[serde(default)]
    pub earliest_physical_backup_date_unix: Option<i64>,
    /// The latest point PITR can restore to.
    #[serde(default)]
    pub latest_physical_backup_date_unix: Option<i64>,
}

/// `V1BackupsResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BackupList {
    /// The project's region.
    #[serde(default)]
    pub region: String,
    /// Whether WAL-G (physical backups) is on.
    #[serde(default)]
    pub walg_enabled: bool,
    /// Whether the PITR add-on is on.
    #[serde(default)]
    pub pitr_enabled: bool,
    /// The daily backups.
    #[serde(default)]
    pub backups: Vec<Backup>,
    /// The PITR range.
    #[serde(default)]
    pub physical_backup_data: PhysicalBackupData,
}

impl BackupList {
    /// The newest backup whose status is `COMPLETED`.
    pub fn newest_completed(&self) -> Option<&Backup> {
        self.backups
            .iter()
            .filter(|b| b.status == BackupStatus::Completed)
            .max_by_key(|b| b.inserted_at)
    }

    /// The PITR window this list describes.
    pub fn pitr_window(&self) -> PitrWindow {
        let at = |t: Option<i64>| t.and_then(|s| Utc.timestamp_opt(s, 0).single());
        PitrWindow {
            enabled: self.pitr_enabled,
            earliest: at(self.physical_backup_data.earliest_physical_backup_date_unix),
            latest: at(self.physical_backup_data.latest_physical_backup_date_unix),
        }
    }

    /// How fresh the project's backups are against `max_age`, at `now`. With PITR on, the
    /// newest recoverable point is `latest_physical_backup_date_unix` (daily backups stop when
    /// PITR is enabled); otherwise it is the newest `COMPLETED` daily backup.
    pub fn freshness(&self, max_age: Duration, now: DateTime<Utc>) -> Freshness {
        let window = self.pitr_window();
        let (newest, source) = match (self.pitr_enabled, window.latest) {
            (true, Some(latest)) => (Some(latest), "PITR (latest recovery point)"),
            _ => (
                self.newest_completed().map(|b| b.inserted_at),
                "daily backup",
            ),
        };
        let limit = short_duration(max_age);
        let Some(newest) = newest else {
            let detail = if self.pitr_enabled {
                "PITR is enabled but reports no recovery point, and there is no completed daily backup".to_string()
            } else if self.backups.is_empty() {
                "there is no platform backup at all (the Free plan has none you can restore; back up with pg_dump)".to_string()
            } else {
                format!("none of the {} backup(s) is COMPLETED", self.backups.len())
            };
            return Freshness {
                ok: false,
                age: None,
                newest: None,
                source,
                detail,
                pitr_enabled: self.pitr_enabled,
            };
        };
        let age = (now - newest).to_std().unwrap_or(Duration::ZERO);
        let ok = age <= max_age;
        let detail = format!(
            "newest {source} is {} old ({}); limit {limit}{}",
            short_duration(age),
            newest.format("%Y-%m-%d %H:%M UTC"),
            if ok { "" } else { ": too old" }
        );
        Freshness {
            ok,
            age: Some(age),
            newest: Some(newest),
            source,
            detail,
            pitr_enabled: self.pitr_enabled,
        }
    }
}

/// The outcome of [`BackupList::freshness`]; `ok: false` is a finding, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freshness {
    /// Whether the newest recoverable point is within the limit.
    pub ok: bool,
    /// Its age (none when there is nothing to restore).
    pub age: Option<Duration>,
    /// When it is from.
    pub newest: Option<DateTime<Utc>>,
    /// What it is: a daily backup or the PITR latest recovery point.
    pub source: &'static str,
    /// One line saying what was found.
    pub detail: String,
    /// Whether PITR is on.
    pub pitr_enabled: bool,
}

/// The PITR range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PitrWindow {
    /// Whether the PITR add-on is on.
    pub enabled: bool,
    /// The earliest recovery point.
    pub earliest: Option<DateTime<Utc>>,
    /// The latest recovery point.
    pub latest: Option<DateTime<Utc>>,
}

impl PitrWindow {
    /// Whether the range is known (PITR on and both ends reported).
    pub fn known(&self) -> bool {
        self.enabled && self.earliest.is_some() && self.latest.is_some()
    }

    /// Fails when the range is known and `target` is outside it.
    pub fn check(&self, target: DateTime<Utc>) -> Result<()> {
        if let (true, Some(earliest), Some(latest)) = (self.enabled, self.earliest, self.latest) {
            if target < earliest || target > latest {
                return Err(Error::usage(format!(
                    "supabase: {} is outside the PITR window {} … {}",
                    target.to_rfc3339(),
                    earliest.to_rfc3339(),
                    latest.to_rfc3339()
                ))
                .with_hint(
                    "pick a time inside the window (see supabase.pitr()); nothing was restored",
                ));
            }
        }
        Ok(())
    }
}

/// The daily backup time.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BackupSchedule {
    /// `HH:MM:SS`, UTC.
    pub schedule_for: String,
    /// When it was last changed (RFC 3339), if reported.
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// One service's health (`V1ServiceHealthResponse`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ServiceHealth {
    /// The service (`db`, `auth`, ...).
    pub name: String,
    /// Deprecated flag; `status` decides.
    #[serde(default)]
    pub healthy: bool,
    /// `COMING_UP`, `ACTIVE_HEALTHY` or `UNHEALTHY` (others kept as sent).
    pub status: String,
    /// What is wrong, if the API says.
    #[serde(default)]
    pub error: Option<String>,
    /// Service-specific details.
    #[serde(default)]
    pub info: Option<Value>,
}

impl ServiceHealth {
    /// Whether the service is `ACTIVE_HEALTHY`.
    pub fn ok(&self) -> bool {
        self.status == "ACTIVE_HEALTHY"
    }
}

/// The outcome of [`ManagementApi::health_check`]; unhealthy services are a finding, not an
/// error.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// Whether every service asked about is `ACTIVE_HEALTHY`.
    pub ok: bool,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: u64,
    /// How many attempts were made.
    pub attempts: u32,
    /// One line saying what was found.
    pub detail: String,
    /// The services of the last attempt.
    pub services: Vec<ServiceHealth>,
}

/// The project's overall state (`GET /v1/projects/{ref}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProjectStatus {
    /// The project ref.
    #[serde(rename = "ref", default)]
    pub project_ref: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its region.
    #[serde(default)]
    pub region: String,
    /// `ACTIVE_HEALTHY`, `RESTORING`, `COMING_UP`, ... (kept as sent).
    pub status: String,
}

/// A Management API client for one project.
pub struct ManagementApi {
    http: HttpClient,
    base: String,
    token: Secret,
    project_ref: String,
}

impl ManagementApi {
    /// A client for `project_ref` at `base_url` (use [`DEFAULT_BASE_URL`]). Calls no API.
    pub fn new(base_url: &str, token: Secret, project_ref: &str) -> Result<Self> {
        validate_ref(project_ref)?;
        if token.expose().trim().is_empty() {
            return Err(Error::usage(format!(
                "supabase: the access token {} is empty",
                token.name()
            ))
            .with_hint(format!("create a personal access token at {TOKEN_PAGE}")));
        }
        let base = base_url.trim_end_matches('/').trim_end_matches("/v1");
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(Error::usage(format!(
                "supabase: the API address \"{base_url}\" is not an http(s) URL"
            ))
            .with_hint(format!("leave it out to use {DEFAULT_BASE_URL}")));
        }
        let http = HttpClient::new("supabase", RetryPolicy::default())?
            .with_rate_limit_headers(RateLimitHeaders::SUPABASE);
        http.scrub(token.expose());
        Ok(ManagementApi {
            http,
            base: base.to_string(),
            token,
            project_ref: project_ref.to_string(),
        })
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Result<Self> {
        self.http.set_policy(policy)?;
        self.http.scrub(self.token.expose());
        Ok(self)
    }

    /// The project ref.
    pub fn project_ref(&self) -> &str {
        &self.project_ref
    }

    /// `supabase project <ref>` (never the token).
    pub fn describe(&self) -> String {
        format!("supabase project {}", self.project_ref)
    }

    fn request(&self, method: Method, path_and_query: &str, body: Option<Value>) -> ApiRequest {
        ApiRequest {
            method,
            url: format!(
                "{}/v1/projects/{}{path_and_query}",
                self.base, self.project_ref
            ),
            headers: vec![(
                "Authorization".into(),
                format!("Bearer {}", self.token.expose()),
            )],
            body: body.map(Body::Json).unwrap_or(Body::None),
        }
    }

    /// Sends a request and parses the 2xx body as `T`; errors carry Supabase-specific hints.
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: Method,
        path_and_query: &str,
        body: Option<Value>,
        control: &Control,
    ) -> Result<T> {
        let req = self.request(method, path_and_query, body);
        let resp = match self.http.send_raw(what, control, &mut || Ok(req.clone()))? {
            Ok(r) => r,
            Err(e) => return Err(self.error(what, &e)),
        };
        let value = resp.json()?;
        serde_json::from_value(value).map_err(|e| {
            Error::failed(format!(
                "supabase: {what}: the answer (HTTP {}) has an unexpected shape: {e}",
                resp.status
            ))
            .with_hint("the Management API may have changed; check https://api.supabase.com/api/v1 and report it")
        })
    }

    /// The user-facing error for an API error, saying what to do next.
    pub fn error(&self, what: &str, e: &ApiError) -> Error {
        let message = self.http.clean(&format!(
            "supabase: {what} ({}): {}",
            self.describe(),
            e.describe()
        ));
        let text = e.message.as_deref().unwrap_or("");
        let hint = match e.status {
            401 => format!(
                "the access token was refused: check that SUPABASE_ACCESS_TOKEN (or the secret given as `token`) holds a current personal access token (sbp_…); create one at {TOKEN_PAGE}"
            ),
            403 if !e.missing_permissions.is_empty() => format!(
                "the token lacks the permission(s) {}: create a token that grants them for project {} (scoped tokens: add the permission and the project)",
                e.missing_permissions.join(", "),
                self.project_ref
            ),
            403 => format!(
                "the token may not do this on project {}: use a token of an organisation member with access; scoped tokens need backups_read (listing, schedule), backups_write (restores) or project_admin_read (health)",
                self.project_ref
            ),
            404 => format!(
                "check the project ref {} and that the token's account can see the project",
                self.project_ref
            ),
            429 => format!(
                "rate limited by the Management API (120 requests per minute per endpoint); retried {} time(s) and gave up: wait a minute and run again, and check that no other job uses the same account heavily",
                e.attempts.saturating_sub(1)
            ),
            402 => "the project's plan lacks this feature (\"Feature requires a higher plan\"): upgrade the plan, or drop this step from the runbook".to_string(),
            400 if text.contains("PITR is not enabled") => "the Point-in-Time Recovery add-on is not enabled for this project: enable PITR (Pro plan or higher, Small compute or larger) under Project Settings → Add-ons, or restore a daily backup from the dashboard instead".to_string(),
            400 | 422 if what.contains("restore") => "check the recovery time: it must lie inside the PITR window (see supabase.pitr())".to_string(),
            500..=599 => "Supabase had a problem; run again later and check https://status.supabase.com".to_string(),
            _ => e.hint().unwrap_or("see the message from Supabase above").to_string(),
        };
        Error::failed(message).with_hint(hint)
    }

    /// `GET …/database/backups`: the daily backups and the PITR state.
    pub fn backups(&self, control: &Control) -> Result<BackupList> {
        self.call(
            "listing backups",
            Method::GET,
            "/database/backups",
            None,
            control,
        )
    }

    /// The newest `COMPLETED` daily backup, if any.
    pub fn newest_completed_backup(&self, control: &Control) -> Result<Option<Backup>> {
        Ok(self.backups(control)?.newest_completed().cloned())
    }

    /// How old the newest `COMPLETED` daily backup is (none when there is none).
    pub fn backup_age(&self, control: &Control) -> Result<Option<Duration>> {
        Ok(self.newest_completed_backup(control)?.map(|b| {
            (Utc::now() - b.inserted_at)
                .to_std()
                .unwrap_or(Duration::ZERO)
        }))
    }

    /// The PITR window.
    pub fn pitr_window(&self, control: &Control) -> Result<PitrWindow> {
        Ok(self.backups(control)?.pitr_window())
    }

    /// Restores the database to `target` with PITR (destructive: the project is unavailable
    /// while it restores, and data newer than `target` is gone). When the window is known, a
    /// target outside it is refused before the call.
    pub fn restore_pitr(&self, target: DateTime<Utc>, control: &Control) -> Result<()> {
        self.pitr_window(control)?.check(target)?;
        self.restore_pitr_unchecked(target, control)
    }

    /// `POST …/restore-pitr` with `{"recovery_time_target_unix": <integer>}`, without looking at
    /// the window first (the caller already did).
    pub fn restore_pitr_unchecked(&self, target: DateTime<Utc>, control: &Control) -> Result<()> {
        let unix = target.timestamp();
        if unix < 0 {
            return Err(Error::usage(format!(
                "supabase: recovery time {} is before 1970",
                target.to_rfc3339()
            )));
        }
        let _: Value = self.call(
            &format!("restoring to {} (PITR)", target.to_rfc3339()),
            Method::POST,
            "/database/backups/restore-pitr",
            Some(json!({ "recovery_time_target_unix": unix })),
            control,
        )?;
        Ok(())
    }

    /// `GET …/database/backups/schedule`.
    pub fn backup_schedule(&self, control: &Control) -> Result<BackupSchedule> {
        self.call(
            "reading the backup schedule",
            Method::GET,
            "/database/backups/schedule",
            None,
            control,
        )
    }

    /// `PATCH …/database/backups/schedule` to `HH:MM:SS` (UTC).
    pub fn set_backup_schedule(
        &self,
        schedule_for: &str,
        control: &Control,
    ) -> Result<BackupSchedule> {
        validate_schedule(schedule_for)?;
        self.call(
            &format!("setting the backup schedule to {schedule_for} UTC"),
            Method::PATCH,
            "/database/backups/schedule",
            Some(json!({ "schedule_for": schedule_for })),
            control,
        )
    }

    /// `GET …/health?services=a&services=b[&timeout_ms=N]`, once.
    pub fn health(
        &self,
        services: &[String],
        timeout_ms: Option<u64>,
        control: &Control,
    ) -> Result<Vec<ServiceHealth>> {
        validate_services(services)?;
        if let Some(t) = timeout_ms.filter(|t| *t > MAX_HEALTH_TIMEOUT_MS) {
            return Err(Error::usage(format!(
                "supabase health: timeout {t} ms is over the API's limit of {MAX_HEALTH_TIMEOUT_MS} ms"
            ))
            .with_hint("use a timeout of at most \"10s\"; use retries for longer waits"));
        }
        let mut pairs: Vec<(&str, String)> =
            services.iter().map(|s| ("services", s.clone())).collect();
        if let Some(t) = timeout_ms {
            pairs.push(("timeout_ms", t.to_string()));
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.call(
            &format!("checking the health of {}", services.join(", ")),
            Method::GET,
            &format!("/health?{}", form_encode(&refs)),
            None,
            control,
        )
    }

    /// Checks `services` until all are `ACTIVE_HEALTHY` or `retries` extra attempts (spaced
    /// `interval`) are used up. Unhealthy services are `ok: false`, not an error; API failures
    /// (token, permissions) are errors.
    pub fn health_check(
        &self,
        services: &[String],
        timeout_ms: Option<u64>,
        retries: u32,
        interval: Duration,
        control: &Control,
    ) -> Result<HealthReport> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            let list = self.health(services, timeout_ms, control)?;
            let latency_ms = started.elapsed().as_millis() as u64;
            let missing: Vec<&String> = services
                .iter()
                .filter(|s| !list.iter().any(|h| &h.name == *s))
                .collect();
            let bad: Vec<String> = list
                .iter()
                .filter(|h| !h.ok())
                .map(|h| match &h.error {
                    Some(e) => format!("{} {} ({e})", h.name, h.status),
                    None => format!("{} {}", h.name, h.status),
                })
                .chain(missing.iter().map(|s| format!("{s} not reported")))
                .collect();
            let ok = bad.is_empty();
            if ok || attempts > retries {
                let detail = if ok {
                    format!(
                        "{}: all ACTIVE_HEALTHY ({})",
                        self.describe(),
                        services.join(", ")
                    )
                } else {
                    format!("{}: {}", self.describe(), bad.join("; "))
                };
                return Ok(HealthReport {
                    ok,
                    latency_ms,
                    attempts,
                    detail,
                    services: list,
                });
            }
            control.note(&format!(
                "{}: {}; checking again in {}",
                self.describe(),
                bad.join("; "),
                short_duration(interval)
            ));
            sleep_checked(interval, control)?;
        }
    }

    /// `GET /v1/projects/{ref}`: the project's overall state.
    pub fn project_status(&self, control: &Control) -> Result<ProjectStatus> {
        self.call("reading the project status", Method::GET, "", None, control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(json: &str) -> BackupList {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn refs_are_twenty_lowercase_letters() {
        assert!(validate_ref("abcdefghijklmnopqrst").is_ok());
        for bad in [
            "abcdefghijklmnopqrs",
            "abcdefghijklmnopqrsT",
            "abcdefghijklmnopqrs1",
            "",
        ] {
            assert!(validate_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedule_format() {
        assert!(validate_schedule("04:00:00").is_ok());
        assert!(validate_schedule("23:59:59").is_ok());
        for bad in ["4:00:00", "24:00:00", "04:00", "04:60:00", "04:00:00Z"] {
            assert!(validate_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recorded_response_without_pitr_parses() {
        let l = list(
            r#"{"region":"us-east-1","pitr_enabled":false,"walg_enabled":true,"backups":[],"physical_backup_data":{}}"#,
        );
        assert!(!l.pitr_enabled && l.backups.is_empty());
        assert!(!l.pitr_window().known());
        let f = l.freshness(Duration::from_secs(86400), Utc::now());
        assert!(!f.ok && f.age.is_none(), "{f:?}");
    }

    #[test]
    fn optional_id_and_unknown_status_are_tolerated() {
        let l = list(
            r#"{"region":"eu","pitr_enabled":false,"walg_enabled":true,"physical_backup_data":{},
                "backups":[{"is_physical_backup":true,"status":"COMPLETED","inserted_at":"2026-02-08T16:44:07Z"},
                           {"id":7,"is_physical_backup":true,"status":"SHINY_NEW","inserted_at":"2026-02-09T16:44:07Z"}]}"#,
        );
        assert_eq!(l.backups[0].id, None);
        assert_eq!(l.backups[1].status, BackupStatus::Other("SHINY_NEW".into()));
        assert_eq!(l.newest_completed().unwrap().id, None);
    }

    #[test]
    fn pitr_freshness_uses_the_latest_recovery_point() {
        let now = Utc::now();
        let l = BackupList {
            region: "eu".into(),
            walg_enabled: true,
            pitr_enabled: true,
            backups: vec![],
            physical_backup_data: PhysicalBackupData {
                earliest_physical_backup_date_unix: Some(now.timestamp() - 7 * 86400),
                latest_physical_backup_date_unix: Some(now.timestamp() - 120),
            },
        };
        let f = l.freshness(Duration::from_secs(3600), now);
        assert!(f.ok, "{f:?}");
        assert!(f.source.contains("PITR"));
        let w = l.pitr_window();
        assert!(w.check(now - chrono::Duration::days(1)).is_ok());
        assert!(w.check(now - chrono::Duration::days(8)).is_err());
        assert!(w.check(now).is_err(), "after the latest point");
    }
}
