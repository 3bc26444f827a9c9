//! A local Contabo API double (with its Keycloak token endpoint), following
//! `shared/reference/vps-providers.md` §2 and the §4 checklist: a form-POST token endpoint
//! answering Keycloak JSON (or `invalid_grant`), bearer check, `x-request-id` required and
//! checked against the spec's UUID regex (400 otherwise), the per-instance snapshot limit
//! (402 "Total snapshots exceed the total max limit of N snapshots"), `data` arrays with `_links`
//! and `_pagination`, delete 204, rollback 200 with only `_links` that deletes newer snapshots,
//! `autoDeleteDate` = created + 30 days, and `{"statusCode","message"}` error bodies. It reuses
//! the mini HTTP server of the Hetzner double.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::hetzner_double::{serve, Request, Response};

/// The instance the double knows.
pub const INSTANCE_ID: i64 = 203283942;
/// Token endpoint path.
pub const TOKEN_PATH: &str = "/auth/realms/contabo/protocol/openid-connect/token";

/// The double's state and knobs.
pub struct ContaboState {
    /// Valid credentials: client id, client secret, user, password.
    pub creds: (String, String, String, String),
    /// Issued access tokens and when they expire.
    pub tokens: Vec<(String, Instant)>,
    /// Knob: `expires_in` of issued tokens, seconds.
    pub expires_in: u64,
    /// Snapshots (API JSON), any order.
    pub snapshots: Vec<Value>,
    /// Knob: the plan's snapshot limit.
    pub limit: usize,
    /// Knob: the largest page size honoured.
    pub max_page_size: usize,
    /// Knob: answers to give to the next API requests instead of the real one.
    pub inject: VecDeque<(u16, String)>,
    /// Every request seen, with the status answered.
    pub log: Vec<(Request, u16)>,
    /// Every `x-request-id` seen.
    pub request_ids: Vec<String>,
    /// Rollbacks done (snapshot ids).
    pub rollbacks: Vec<String>,
    next: u64,
}

/// A running Contabo double.
#[derive(Clone)]
pub struct ContaboDouble {
    /// API base URL.
    pub url: String,
    /// Token endpoint URL.
    pub auth_url: String,
    /// Shared state.
    pub state: Arc<Mutex<ContaboState>>,
}

/// Checks the spec's `x-request-id` pattern
/// `^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-5][0-9A-Fa-f]{3}-[089abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`.
pub fn request_id_ok(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
        && ('0'..='5').contains(&parts[2].chars().next().unwrap())
        && "089abAB".contains(parts[3].chars().next().unwrap())
}

fn cerr(status: u16, message: &str) -> Response {
    Response::json(status, &json!({"statusCode": status, "message": message}))
}

fn date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl ContaboDouble {
    /// A double with these credentials, a limit of 3 snapshots, and no snapshots.
    pub fn start(client_id: &str, client_secret: &str, user: &str, password: &str) -> Self {
        let state = Arc::new(Mutex::new(ContaboState {
            creds: (
                client_id.into(),
                client_secret.into(),
                user.into(),
                password.into(),
            ),
            tokens: vec![],
            expires_in: 300,
            snapshots: vec![],
            limit: 3,
            max_page_size: 100,
            inject: VecDeque::new(),
            log: vec![],
            request_ids: vec![],
            rollbacks: vec![],
            next: 1628603855,
        }));
        let s = state.clone();
        let url = serve(Arc::new(move |req: &Request| {
            let mut st = s.lock().unwrap();
            let resp = handle(&mut st, req);
            st.log.push((req.clone(), resp.status));
            resp
        }));
        ContaboDouble {
            auth_url: format!("{url}{TOKEN_PATH}"),
            url,
            state,
        }
    }

    /// Adds a snapshot named `name` created `hours_ago` hours ago; returns its id.
    pub fn add_snapshot(&self, name: &str, hours_ago: i64) -> String {
        let mut st = self.state.lock().unwrap();
        let created = Utc::now() - ChronoDuration::hours(hours_ago);
        insert(&mut st, name, "seeded", created)
    }

    /// The names of the snapshots now held, oldest first.
    pub fn names(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        let mut v: Vec<&Value> = st.snapshots.iter().collect();
        v.sort_by(|a, b| a["createdDate"].as_str().cmp(&b["createdDate"].as_str()));
        v.iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// How many requests had `method` and a path starting with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|(r, _)| r.method == method && r.path.starts_with(prefix))
            .count()
    }
}

fn insert(st: &mut ContaboState, name: &str, description: &str, created: DateTime<Utc>) -> String {
    st.next += 1;
    let id = format!("snap{}", st.next);
    st.snapshots.push(json!({
        "tenantId": "DE", "customerId": "54321", "snapshotId": id, "name": name,
        "description": description, "instanceId": INSTANCE_ID,
        "createdDate": date(created), "autoDeleteDate": date(created + ChronoDuration::days(30)),
        "imageId": "db1409d2-ed92-4f2f-978e-7b2fa4a1ec90", "imageName": "ubuntu-24.04",
    }));
    id
}

fn handle(st: &mut ContaboState, req: &Request) -> Response {
    if req.path == TOKEN_PATH {
        return token(st, req);
    }
    let now = Instant::now();
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if !st
        .tokens
        .iter()
        .any(|(t, until)| t == bearer && *until > now)
    {
        return cerr(401, "Unauthorized");
    }
    match req.header("x-request-id") {
        Some(id) if request_id_ok(id) => st.request_ids.push(id.to_string()),
        _ => return cerr(400, "x-request-id header is missing or not a valid uuid4"),
    }
    if let Some((status, message)) = st.inject.pop_front() {
        return cerr(status, &message);
    }
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let base = format!("/v1/compute/instances/{INSTANCE_ID}/snapshots");
    match (req.method.as_str(), segs.as_slice()) {
        (_, ["v1", "compute", "instances", id, "snapshots", ..])
            if *id != INSTANCE_ID.to_string() =>
        {
            cerr(
                404,
                &format!("Entry Instances not found by instanceId = {id}"),
            )
        }
        ("GET", [_, _, _, _, "snapshots"]) => {
            let size = req
                .q("size")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(10)
                .clamp(1, st.max_page_size);
            let page = req
                .q("page")
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(1)
                .max(1);
            let mut all = st.snapshots.clone();
            all.sort_by(|a, b| a["createdDate"].as_str().cmp(&b["createdDate"].as_str()));
            let total = all.len();
            let pages = total.div_ceil(size).max(1);
            let data: Vec<Value> = all.into_iter().skip((page - 1) * size).take(size).collect();
            let link = |p: usize| format!("{base}?page={p}&size={size}");
            let mut links = json!({"self": link(page), "first": link(1), "last": link(pages)});
            if page > 1 {
                links["previous"] = json!(link(page - 1));
            }
            if page < pages {
                links["next"] = json!(link(page + 1));
            }
            Response::json(
                200,
                &json!({"_pagination": {"size": size, "totalElements": total,
                "totalPages": pages, "page": page}, "data": data, "_links": links}),
            )
        }
        ("POST", [_, _, _, _, "snapshots"]) => {
            let Some(body) = req.json() else {
                return cerr(400, "Bad Request");
            };
            let name = body.get("name").and_then(Value::as_str).unwrap_or("");
            let name_ok = (1..=30).contains(&name.chars().count())
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
            if !name_ok {
                return cerr(
                    400,
                    "name must be 1-30 characters: letters, digits, spaces, dashes",
                );
            }
            let desc = body
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("");
            if desc.chars().count() > 255 {
                return cerr(400, "description is too long");
            }
            if st.snapshots.len() >= st.limit {
                let l = st.limit;
                return cerr(
                    402,
                    &format!("Total snapshots exceed the total max limit of {l} snapshots"),
                );
            }
            let latest = st
                .snapshots
                .iter()
                .filter_map(|s| s["createdDate"].as_str())
                .filter_map(|d| DateTime::parse_from_rfc3339(d).ok())
                .map(|d| d.with_timezone(&Utc))
                .max();
            let created = latest.map_or(Utc::now(), |l| {
                Utc::now().max(l + ChronoDuration::seconds(1))
            });
            let id = insert(st, name, desc, created);
            let snap = st.snapshots.last().unwrap().clone();
            Response::json(
                201,
                &json!({"data": [snap], "_links": {"self": format!("{base}/{id}")}}),
            )
        }
        ("GET", [_, _, _, _, "snapshots", sid]) => {
            match st.snapshots.iter().find(|s| s["snapshotId"] == *sid) {
                Some(s) => Response::json(
                    200,
                    &json!({"data": [s], "_links": {"self": format!("{base}/{sid}")}}),
                ),
                None => cerr(
                    404,
                    &format!("Entry Snapshot not found by snapshotId = {sid}"),
                ),
            }
        }
        ("DELETE", [_, _, _, _, "snapshots", sid]) => {
            let before = st.snapshots.len();
            st.snapshots.retain(|s| s["snapshotId"] != *sid);
            if st.snapshots.len() == before {
                cerr(
                    404,
                    &format!("Entry Snapshot not found by snapshotId = {sid}"),
                )
            } else {
                Response::empty(204)
            }
        }
        ("POST", [_, _, _, _, "snapshots", sid, "rollback"]) => {
            if !req.json().is_some_and(|v| v.is_object()) {
                return cerr(400, "request body must be a JSON object");
            }
            let Some(target) = st
                .snapshots
                .iter()
                .find(|s| s["snapshotId"] == *sid)
                .cloned()
            else {
                return cerr(
                    404,
                    &format!("Entry Snapshot not found by snapshotId = {sid}"),
                );
            };
            let at = target["createdDate"].as_str().unwrap().to_string();
            st.snapshots
                .retain(|s| s["createdDate"].as_str().unwrap() <= at.as_str());
            st.rollbacks.push(sid.to_string());
            Response::json(
                200,
                &json!({"_links": {"self": format!("{base}/{sid}/rollback")}}),
            )
        }
        _ => cerr(404, "Not Found"),
    }
}

fn token(st: &mut ContaboState, req: &Request) -> Response {
    let form = req.form();
    let get = |k: &str| {
        form.iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let ok_type = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !ok_type || get("grant_type") != "password" {
        return Response::json(
            400,
            &json!({"error": "unsupported_grant_type", "error_description": "Unsupported grant type"}),
        );
    }
    let (cid, secret, user, password) = st.creds.clone();
    if get("client_id") != cid || get("client_secret") != secret {
        return Response::json(
            401,
            &json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"}),
        );
    }
    if get("username") != user || get("password") != password {
        return Response::json(
            401,
            &json!({"error": "invalid_grant", "error_description": "Invalid user credentials"}),
        );
    }
    st.next += 1;
    let tok = format!("eyJhbGciOiJSUzI1NiJ9.access{}.sig", st.next);
    st.tokens.push((
        tok.clone(),
        Instant::now() + Duration::from_secs(st.expires_in),
    ));
    Response::json(
        200,
        &json!({
            "access_token": tok, "expires_in": st.expires_in, "refresh_expires_in": 1800,
            "refresh_token": "eyJhbGciOiJIUzI1NiJ9.refresh.sig", "token_type": "Bearer",
            "not-before-policy": 0, "session_state": "b6f0c6e0", "scope": "profile email",
        }),
    )
}
