//! A local Supabase Management API double following `shared/reference/supabase.md` §1: bearer
//! check (401 `{"message":"Unauthorized"}`), 403 `{"message":"Forbidden resource"}` with a
//! `missing_permissions` array, the project ref enforced as 20 lowercase letters, and the
//! `x-ratelimit-limit/remaining/reset` headers (reset in seconds) on every answer — 429
//! `{"message":"ThrottlerException: Too Many Requests"}` for the first N requests when asked.
//!
//! Endpoints: `GET …/database/backups` (`V1BackupsResponse`), `POST …/restore-pitr` (integer
//! `recovery_time_target_unix`, 400 "PITR is not enabled for this project." when off, 422 outside
//! the window, 201 `{}` and the project goes `RESTORING`), `GET`/`PATCH …/schedule` (402 knob,
//! 400 "Invalid schedule_for format"), `GET …/health?services=…&services=…&timeout_ms=…`
//! (repeated keys) and `GET /v1/projects/{ref}`. Every request is logged. It reuses the mini
//! HTTP server of the Hetzner double.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::hetzner_double::{serve, Request, Response};

/// The project the double knows.
pub const PROJECT_REF: &str = "abcdefghijklmnopqrst";

/// The health endpoint's services.
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

/// The double's state and knobs.
pub struct SupabaseState {
    /// The one valid token.
    pub token: String,
    /// Daily backups (API JSON).
    pub backups: Vec<Value>,
    /// Whether PITR is on.
    pub pitr_enabled: bool,
    /// PITR window (UNIX seconds) reported when PITR is on.
    pub pitr_window: Option<(i64, i64)>,
    /// Knob: every request is answered 403 with these missing permissions.
    pub forbid: Option<Vec<String>>,
    /// Knob: the next this many requests are answered 429.
    pub throttle_next: u32,
    /// Knob: `x-ratelimit-reset` (seconds) sent with a 429.
    pub throttle_reset_secs: u64,
    /// Requests left in the current window (for `x-ratelimit-remaining`).
    pub remaining: u64,
    /// Knob: the plan lacks the backup schedule (402).
    pub schedule_needs_higher_plan: bool,
    /// The daily backup time.
    pub schedule_for: String,
    /// Health status per service (`ACTIVE_HEALTHY` when absent), and an error text.
    pub health: BTreeMap<String, (String, Option<String>)>,
    /// The project's status.
    pub project_status: String,
    /// Every restore-pitr body accepted (as sent).
    pub restores: Vec<Value>,
    /// Every request seen, with the status answered.
    pub log: Vec<(Request, u16)>,
}

/// A running Supabase double.
#[derive(Clone)]
pub struct SupabaseDouble {
    /// Base URL, e.g. `http://127.0.0.1:PORT` (pass it as `api_url`).
    pub url: String,
    /// Shared state (lock to set knobs or inspect).
    pub state: Arc<Mutex<SupabaseState>>,
}

/// An RFC 3339 time as the API writes it.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl SupabaseDouble {
    /// A double accepting `token`, with no backups and PITR off.
    pub fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(SupabaseState {
            token: token.into(),
            backups: Vec::new(),
            pitr_enabled: false,
            pitr_window: None,
            forbid: None,
            throttle_next: 0,
            throttle_reset_secs: 1,
            remaining: 120,
            schedule_needs_higher_plan: false,
            schedule_for: "04:00:00".into(),
            health: BTreeMap::new(),
            project_status: "ACTIVE_HEALTHY".into(),
            restores: Vec::new(),
            log: Vec::new(),
        }));
        let s = state.clone();
        let url = serve(Arc::new(move |req: &Request| {
            let mut st = s.lock().unwrap();
            let resp = handle(&mut st, req);
            st.log.push((req.clone(), resp.status));
            resp
        }));
        SupabaseDouble { url, state }
    }

    /// Adds a backup taken `age` ago with `status`; `id` may be left out like older APIs do.
    pub fn add_backup(&self, age: ChronoDuration, status: &str, id: Option<i64>) {
        let mut b = json!({
            "is_physical_backup": true,
            "status": status,
            "inserted_at": ts(Utc::now() - age),
        });
        if let Some(id) = id {
            b["id"] = json!(id);
        }
        self.state.lock().unwrap().backups.push(b);
    }

    /// Turns PITR on with a window from `earliest_ago` to `latest_ago` before now.
    pub fn enable_pitr(&self, earliest_ago: ChronoDuration, latest_ago: ChronoDuration) {
        let now = Utc::now();
        let mut st = self.state.lock().unwrap();
        st.pitr_enabled = true;
        st.pitr_window = Some((
            (now - earliest_ago).timestamp(),
            (now - latest_ago).timestamp(),
        ));
    }

    /// Sets a service's health status (and error text).
    pub fn set_health(&self, service: &str, status: &str, error: Option<&str>) {
        self.state
            .lock()
            .unwrap()
            .health
            .insert(service.into(), (status.into(), error.map(str::to_string)));
    }

    /// How many requests matched `method` and a path containing `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|(r, _)| r.method == method && r.path.contains(part))
            .count()
    }

    /// Statuses answered, in order.
    pub fn statuses(&self) -> Vec<u16> {
        let st = self.state.lock().unwrap();
        st.log.iter().map(|(_, s)| *s).collect()
    }

    /// Every request seen.
    pub fn requests(&self) -> Vec<Request> {
        let st = self.state.lock().unwrap();
        st.log.iter().map(|(r, _)| r.clone()).collect()
    }
}

fn msg(status: u16, message: &str) -> Response {
    Response::json(status, &json!({ "message": message }))
}

fn handle(st: &mut SupabaseState, req: &Request) -> Response {
    if st.throttle_next > 0 {
        st.throttle_next -= 1;
        return msg(429, "ThrottlerException: Too Many Requests")
            .with("Content-Type", "application/json; charset=utf-8")
            .with("x-ratelimit-limit", 120)
            .with("x-ratelimit-remaining", 0)
            .with("x-ratelimit-reset", st.throttle_reset_secs);
    }
    st.remaining = st.remaining.saturating_sub(1).max(1);
    let resp = route(st, req);
    resp.with("x-ratelimit-limit", 120)
        .with("x-ratelimit-remaining", st.remaining)
        .with("x-ratelimit-reset", 60)
}

fn route(st: &mut SupabaseState, req: &Request) -> Response {
    if req.header("authorization") != Some(format!("Bearer {}", st.token).as_str()) {
        return msg(401, "Unauthorized");
    }
    if let Some(missing) = &st.forbid {
        return Response::json(
            403,
            &json!({ "message": "Forbidden resource", "missing_permissions": missing }),
        );
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let (project, rest) = match segs.as_slice() {
        ["v1", "projects", project, rest @ ..] => (*project, rest),
        _ => return msg(404, &format!("Cannot {} {}", req.method, req.path)),
    };
    if project.len() != 20 || !project.chars().all(|c| c.is_ascii_lowercase()) {
        return msg(400, "ref must be a string of 20 lowercase letters");
    }
    if project != PROJECT_REF {
        return msg(404, "Project not found");
    }
    match (req.method.as_str(), rest) {
        ("GET", []) => Response::json(
            200,
            &json!({
                "id": PROJECT_REF, "ref": PROJECT_REF, "organization_id": "org",
                "name": "mt5-prod", "region": "eu-central-1",
                "created_at": "2026-01-01T00:00:00Z", "status": st.project_status,
                "database": {"host": format!("db.{PROJECT_REF}.supabase.co"), "version": "15.8.1.085",
                             "postgres_engine": "15", "release_channel": "ga"},
            }),
        ),
        ("GET", ["database", "backups"]) => {
            let physical = match (st.pitr_enabled, st.pitr_window) {
                (true, Some((e, l))) => json!({
                    "earliest_physical_backup_date_unix": e,
                    "latest_physical_backup_date_unix": l,
                }),
                _ => json!({}),
            };
            Response::json(
                200,
                &json!({
                    "region": "eu-central-1", "walg_enabled": true,
                    "pitr_enabled": st.pitr_enabled, "backups": st.backups,
                    "physical_backup_data": physical,
                }),
            )
        }
        ("POST", ["database", "backups", "restore-pitr"]) => {
            let Some(body) = req.json() else {
                return msg(400, "Invalid JSON body");
            };
            let Some(target) = body
                .get("recovery_time_target_unix")
                .filter(|v| v.is_u64())
                .and_then(Value::as_i64)
            else {
                return msg(
                    400,
                    "recovery_time_target_unix must be an integer not less than 0",
                );
            };
            if !st.pitr_enabled {
                return msg(400, "PITR is not enabled for this project.");
            }
            if let Some((earliest, latest)) = st.pitr_window {
                if target < earliest || target > latest {
                    return msg(422, "recovery_time_target_unix is outside the PITR range");
                }
            }
            st.restores.push(body);
            st.project_status = "RESTORING".into();
            Response::json(201, &json!({}))
        }
        (m @ ("GET" | "PATCH"), ["database", "backups", "schedule"]) => {
            if st.schedule_needs_higher_plan {
                return msg(402, "Feature requires a higher plan");
            }
            if m == "PATCH" {
                let value = req.json().and_then(|b| {
                    b.get("schedule_for")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                let valid = value.as_deref().is_some_and(|v| {
                    v.len() == 8 && chrono::NaiveTime::parse_from_str(v, "%H:%M:%S").is_ok()
                });
                if !valid {
                    return msg(400, "Invalid schedule_for format");
                }
                st.schedule_for = value.unwrap();
            }
            Response::json(
                200,
                &json!({ "schedule_for": st.schedule_for, "updated_at": ts(Utc::now()) }),
            )
        }
        ("GET", ["health"]) => {
            let services: Vec<&str> = req
                .query
                .iter()
                .filter(|(k, _)| k == "services")
                .map(|(_, v)| v.as_str())
                .collect();
            if services.is_empty() {
                return msg(400, "services should not be empty");
            }
            if let Some(bad) = services.iter().find(|s| !SERVICES.contains(s)) {
                return msg(
                    400,
                    &format!("services must be one of the enum values: {bad}"),
                );
            }
            if let Some(t) = req.q("timeout_ms") {
                if t.parse::<u64>().map_or(true, |t| t > 10_000) {
                    return msg(400, "timeout_ms must not be greater than 10000");
                }
            }
            let list: Vec<Value> = services
                .iter()
                .map(|s| {
                    let (status, error) = st
                        .health
                        .get(*s)
                        .cloned()
                        .unwrap_or(("ACTIVE_HEALTHY".into(), None));
                    let mut v = json!({
                        "name": s, "healthy": status == "ACTIVE_HEALTHY", "status": status,
                    });
                    if let Some(e) = error {
                        v["error"] = json!(e);
                    }
                    if *s == "rest" {
                        v["info"] = json!({ "db_schema": "public" });
                    }
                    v
                })
                .collect();
            Response::json(200, &Value::Array(list))
        }
        _ => msg(404, &format!("Cannot {} {}", req.method, req.path)),
    }
}

/// A raw request returning status, headers (names lower-cased) and body, for tests of the double.
pub fn raw(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut out_headers = Vec::new();
    let mut len = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            if k == "content-length" {
                len = v.trim().parse().unwrap();
            }
            out_headers.push((k, v.trim().to_string()));
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (
        status,
        out_headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}
