//! A local Hetzner Cloud API double (plus the tiny HTTP/1.1 server the Contabo double shares),
//! following `shared/reference/vps-providers.md` §1 and the §4 checklist: bearer check (401),
//! `RateLimit-*` headers on every answer and a token bucket that answers 429 when empty,
//! `create_image` → running action → progress → success (or an injected error), 423 `locked`
//! while an action runs on a server, `/images` with `type`, `label_selector`, `sort`, `page`,
//! `per_page`, `meta.pagination` (null `next_page` on the last page) and `Link`, `DELETE` 204/404,
//! `image` given as an integer or a string, and `X-Correlation-Id`. Knobs (pub fields of
//! [`HetznerState`]) inject failures.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 server (keep-alive, Content-Length bodies).

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method, upper case.
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// The raw query string.
    pub raw_query: String,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The first query parameter called `name`.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
    /// The body as decoded form pairs.
    pub fn form(&self) -> Vec<(String, String)> {
        parse_query(&String::from_utf8_lossy(&self.body))
    }
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, v: &Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(v).unwrap(),
        }
    }
    /// An empty response (204).
    pub fn empty(status: u16) -> Self {
        Response {
            status,
            headers: vec![],
            body: vec![],
        }
    }
    /// Adds a header.
    pub fn with(mut self, k: &str, v: impl ToString) -> Self {
        self.headers.push((k.into(), v.to_string()));
        self
    }
}

/// Percent-decodes a query or form string (`+` is a space).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                    match u8::from_str_radix(h, 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

/// A handler for the mini server.
pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Serves `handler` on 127.0.0.1 (a free port); returns `http://127.0.0.1:PORT`.
pub fn serve(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let h = handler.clone();
            std::thread::spawn(move || {
                let _ = connection(stream, h);
            });
        }
    });
    format!("http://{addr}")
}

fn connection(stream: TcpStream, handler: Handler) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let (path, raw_query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.clone(), String::new()),
        };
        let req = Request {
            method,
            path,
            query: parse_query(&raw_query),
            raw_query,
            headers,
            body,
        };
        let resp = handler(&req);
        let reason = match resp.status {
            200 => "OK",
            201 => "Created",
            204 => "No Content",
            400 => "Bad Request",
            401 => "Unauthorized",
            402 => "Payment Required",
            404 => "Not Found",
            409 => "Conflict",
            422 => "Unprocessable Entity",
            423 => "Locked",
            429 => "Too Many Requests",
            _ => "Status",
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", resp.status);
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        out.write_all(head.as_bytes())?;
        out.write_all(&resp.body)?;
        out.flush()?;
    }
}

/// A raw HTTP/1.1 request (for tests of the doubles themselves): returns status and body.
pub fn raw_request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
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
    let mut len = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// An RFC 3339 timestamp as Hetzner writes it (`+00:00`).
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

// ---------------------------------------------------------------------------------------------
// The Hetzner double.

/// An action and what happens when it finishes.
#[derive(Debug, Clone)]
pub struct ActionState {
    /// The action JSON.
    pub action: Value,
    /// Polls until it finishes (`u32::MAX`: never).
    pub polls_left: u32,
    /// The server it locks.
    pub server: Option<i64>,
    /// If set, the action ends in `error` with this code and message.
    pub fail: Option<(String, String)>,
    /// Image to mark available on success.
    pub image: Option<i64>,
    /// Server to mark running on success.
    pub boots: Option<i64>,
}

/// The double's state and knobs.
pub struct HetznerState {
    /// The one valid token.
    pub token: String,
    /// Servers by id (API JSON).
    pub servers: BTreeMap<i64, Value>,
    /// Images by id (API JSON).
    pub images: BTreeMap<i64, Value>,
    /// Actions by id.
    pub actions: BTreeMap<i64, ActionState>,
    /// The next id to hand out.
    pub next_id: i64,
    /// Knob: polls an action needs before it finishes.
    pub action_polls: u32,
    /// Knob: the next action started fails with this code and message.
    pub fail_next_action: Option<(String, String)>,
    /// Knob: answers to give to the next requests instead of the real one (status, code).
    pub inject: VecDeque<(u16, String)>,
    /// Knob: the largest `per_page` honoured (the real API: 50).
    pub max_per_page: usize,
    /// Token bucket: capacity (requests), refill per second, current level.
    pub bucket_capacity: f64,
    /// Refill rate.
    pub bucket_refill_per_sec: f64,
    /// Current level.
    pub bucket: f64,
    last_refill: Instant,
    /// Every request seen, with the status answered.
    pub log: Vec<(Request, u16)>,
    /// Every image id passed to rebuild (as sent: int or string).
    pub rebuilds: Vec<Value>,
    /// Every server-creation body.
    pub created_servers: Vec<Value>,
    /// When the clock for new images starts (advances a second per image).
    pub clock: DateTime<Utc>,
}

/// A running Hetzner double.
#[derive(Clone)]
pub struct HetznerDouble {
    /// Base URL, e.g. `http://127.0.0.1:PORT` (pass it as the API base).
    pub url: String,
    /// Shared state (lock to set knobs or inspect).
    pub state: Arc<Mutex<HetznerState>>,
}

/// The source server the double starts with.
pub const SERVER_ID: i64 = 42;

impl HetznerDouble {
    /// A double accepting `token`, with server 42 ("web-1", cx22 in fsn1).
    pub fn start(token: &str) -> Self {
        let now = Utc::now();
        let mut servers = BTreeMap::new();
        servers.insert(
            SERVER_ID,
            server_json(SERVER_ID, "web-1", "running", json!({})),
        );
        let state = Arc::new(Mutex::new(HetznerState {
            token: token.into(),
            servers,
            images: BTreeMap::new(),
            actions: BTreeMap::new(),
            next_id: 1000,
            action_polls: 2,
            fail_next_action: None,
            inject: VecDeque::new(),
            max_per_page: 50,
            bucket_capacity: 3600.0,
            bucket_refill_per_sec: 1.0,
            bucket: 3600.0,
            last_refill: Instant::now(),
            log: Vec::new(),
            rebuilds: Vec::new(),
            created_servers: Vec::new(),
            clock: now - ChronoDuration::days(1),
        }));
        let s = state.clone();
        let url = serve(Arc::new(move |req: &Request| {
            let mut st = s.lock().unwrap();
            let resp =
                handle(&mut st, req).with("X-Correlation-Id", format!("corr-{}", st.log.len() + 1));
            st.log.push((req.clone(), resp.status));
            resp
        }));
        HetznerDouble { url, state }
    }

    /// Sets the token bucket (capacity, refill per second) and fills it.
    pub fn rate_limit(&self, capacity: f64, refill_per_sec: f64) {
        let mut st = self.state.lock().unwrap();
        st.bucket_capacity = capacity;
        st.bucket_refill_per_sec = refill_per_sec;
        st.bucket = capacity;
        st.last_refill = Instant::now();
    }

    /// Adds a snapshot image created `days_ago` days ago with `labels`; returns its id.
    pub fn add_image(&self, days_ago: i64, status: &str, labels: Value) -> i64 {
        let mut st = self.state.lock().unwrap();
        st.next_id += 1;
        let id = st.next_id;
        let created = Utc::now() - ChronoDuration::days(days_ago) - ChronoDuration::seconds(id);
        st.images.insert(
            id,
            image_json(
                id,
                &format!("seed {id}"),
                status,
                created,
                labels,
                SERVER_ID,
            ),
        );
        id
    }

    /// Our labels for server 42.
    pub fn our_labels() -> Value {
        json!({"managed-by": "runbook", "runbook-server": SERVER_ID.to_string()})
    }

    /// Starts a never-ending action on a server (so it is locked).
    pub fn lock_server(&self, server: i64) {
        let mut st = self.state.lock().unwrap();
        let id = new_action(&mut st, "shutdown_server", Some(server), None, None);
        st.actions.get_mut(&id).unwrap().polls_left = u32::MAX;
    }

    /// Servers carrying `runbook-role=boot-verify`.
    pub fn verify_servers(&self) -> Vec<i64> {
        let st = self.state.lock().unwrap();
        st.servers
            .iter()
            .filter(|(_, s)| {
                s.pointer("/labels/runbook-role").and_then(Value::as_str) == Some("boot-verify")
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// How many requests matched `method` and a path starting with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        let st = self.state.lock().unwrap();
        st.log
            .iter()
            .filter(|(r, _)| r.method == method && r.path.starts_with(prefix))
            .count()
    }

    /// Statuses answered, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .map(|(_, s)| *s)
            .collect()
    }
}

fn server_json(id: i64, name: &str, status: &str, labels: Value) -> Value {
    json!({
        "id": id, "name": name, "status": status, "locked": false,
        "created": ts(Utc::now()),
        "server_type": {"id": 104, "name": "cx22", "cores": 2, "memory": 4.0, "disk": 40},
        "location": {"id": 1, "name": "fsn1", "city": "Falkenstein", "country": "DE"},
        "public_net": {"ipv4": {"ip": format!("192.0.2.{}", id % 250)}, "ipv6": {"ip": "2001:db8::/64"}},
        "protection": {"delete": false, "rebuild": false},
        "labels": labels, "image": null,
    })
}

fn image_json(
    id: i64,
    description: &str,
    status: &str,
    created: DateTime<Utc>,
    labels: Value,
    server: i64,
) -> Value {
    json!({
        "id": id, "type": "snapshot", "status": status, "name": null,
        "description": description,
        "image_size": if status == "available" { json!(1.25) } else { Value::Null },
        "disk_size": 40.0, "created": ts(created),
        "created_from": {"id": server, "name": "web-1"},
        "bound_to": null, "os_flavor": "ubuntu", "os_version": null, "architecture": "x86",
        "rapid_deploy": false, "protection": {"delete": false}, "deprecated": null, "deleted": null,
        "labels": labels,
    })
}

fn err(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {"code": code, "message": message, "details": {}}}),
    )
}

fn new_action(
    st: &mut HetznerState,
    command: &str,
    server: Option<i64>,
    image: Option<i64>,
    boots: Option<i64>,
) -> i64 {
    st.next_id += 1;
    let id = st.next_id;
    let mut resources = vec![];
    if let Some(s) = server.or(boots) {
        resources.push(json!({"id": s, "type": "server"}));
    }
    if let Some(i) = image {
        resources.push(json!({"id": i, "type": "image"}));
    }
    let action = json!({
        "id": id, "command": command, "status": "running", "progress": 0,
        "started": ts(Utc::now()), "finished": null, "resources": resources, "error": null,
    });
    let fail = st.fail_next_action.take();
    st.actions.insert(
        id,
        ActionState {
            action,
            polls_left: st.action_polls,
            server,
            fail,
            image,
            boots,
        },
    );
    id
}

fn server_locked(st: &HetznerState, server: i64) -> bool {
    st.actions
        .values()
        .any(|a| a.server == Some(server) && a.action["status"] == "running")
}

fn refill(st: &mut HetznerState) {
    let now = Instant::now();
    let secs = now.duration_since(st.last_refill).as_secs_f64();
    st.bucket = (st.bucket + secs * st.bucket_refill_per_sec).min(st.bucket_capacity);
    st.last_refill = now;
}

fn rate_headers(st: &HetznerState, resp: Response) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let to_full = (st.bucket_capacity - st.bucket).max(0.0) / st.bucket_refill_per_sec.max(1e-9);
    resp.with("RateLimit-Limit", st.bucket_capacity as u64)
        .with("RateLimit-Remaining", st.bucket.floor().max(0.0) as u64)
        .with("RateLimit-Reset", (now + to_full).ceil() as u64)
}

fn handle(st: &mut HetznerState, req: &Request) -> Response {
    refill(st);
    if st.bucket < 1.0 {
        let r = err(
            429,
            "rate_limit_exceeded",
            "limit of 3600 requests per hour reached",
        );
        return rate_headers(st, r);
    }
    st.bucket -= 1.0;
    let resp = route(st, req);
    rate_headers(st, resp)
}

fn id_or_name(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => n.as_i64().map(|i| i.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn selector_matches(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            let get = |k: &str| labels.get(k).and_then(Value::as_str);
            if let Some((k, v)) = term.split_once("!=") {
                get(k.trim()) != Some(v.trim())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                get(k.trim()) == Some(v.trim())
            } else if let Some(k) = term.strip_prefix('!') {
                get(k.trim()).is_none()
            } else {
                get(term).is_some()
            }
        })
}

fn route(st: &mut HetznerState, req: &Request) -> Response {
    if req.header("authorization") != Some(format!("Bearer {}", st.token).as_str()) {
        return err(401, "unauthorized", "unable to authenticate");
    }
    if let Some((status, code)) = st.inject.pop_front() {
        return err(status, &code, &format!("injected {code}"));
    }
    let segs: Vec<&str> = req
        .path
        .trim_start_matches("/v1")
        .trim_matches('/')
        .split('/')
        .collect();
    let m = req.method.as_str();
    match (m, segs.as_slice()) {
        ("GET", ["servers"]) => {
            let name = req.q("name");
            let list: Vec<Value> = st
                .servers
                .values()
                .filter(|s| name.is_none_or(|n| s["name"] == n))
                .cloned()
                .collect();
            let n = list.len();
            Response::json(
                200,
                &json!({"servers": list, "meta": {"pagination": {
                "page": 1, "per_page": 25, "previous_page": null, "next_page": null,
                "last_page": 1, "total_entries": n}}}),
            )
        }
        ("GET", ["servers", id]) => match id.parse::<i64>().ok().and_then(|i| st.servers.get(&i)) {
            Some(s) => Response::json(200, &json!({"server": s})),
            None => err(404, "not_found", "server not found"),
        },
        ("DELETE", ["servers", id]) => {
            let Some(id) = id.parse::<i64>().ok() else {
                return err(404, "not_found", "server not found");
            };
            if st.servers.remove(&id).is_none() {
                return err(404, "not_found", "server not found");
            }
            let a = new_action(st, "delete_server", None, None, None);
            let act = st.actions.get_mut(&a).unwrap();
            act.action["status"] = json!("success");
            act.action["progress"] = json!(100);
            Response::json(200, &json!({"action": act.action}))
        }
        ("POST", ["servers"]) => {
            let Some(body) = req.json() else {
                return err(400, "json_error", "invalid JSON");
            };
            st.created_servers.push(body.clone());
            if body.get("datacenter").is_some() {
                return err(422, "invalid_input", "datacenter was removed; use location");
            }
            let Some(name) = body.get("name").and_then(Value::as_str) else {
                return err(422, "invalid_input", "name is missing");
            };
            if st.servers.values().any(|s| s["name"] == name) {
                return err(409, "uniqueness_error", "server name is already used");
            }
            if body.get("server_type").and_then(id_or_name).is_none() {
                return err(422, "invalid_input", "server_type is missing");
            }
            let Some(image) = body.get("image").and_then(id_or_name) else {
                return err(422, "invalid_input", "image is missing");
            };
            if image
                .parse::<i64>()
                .ok()
                .and_then(|i| st.images.get(&i))
                .is_none()
            {
                return err(404, "not_found", "image not found");
            }
            st.next_id += 1;
            let id = st.next_id;
            let labels = body.get("labels").cloned().unwrap_or(json!({}));
            st.servers
                .insert(id, server_json(id, name, "initializing", labels));
            let a = new_action(st, "create_server", None, None, Some(id));
            let b = new_action(st, "start_server", None, None, Some(id));
            Response::json(
                201,
                &json!({
                    "server": st.servers[&id], "action": st.actions[&a].action,
                    "next_actions": [st.actions[&b].action], "root_password": null,
                }),
            )
        }
        ("POST", ["servers", id, "actions", cmd]) => {
            let Some(sid) = id
                .parse::<i64>()
                .ok()
                .filter(|i| st.servers.contains_key(i))
            else {
                return err(404, "not_found", "server not found");
            };
            let body = req.json().unwrap_or(json!({}));
            if server_locked(st, sid) {
                return err(
                    423,
                    "locked",
                    "there is already an Action running on this server",
                );
            }
            match *cmd {
                "create_image" => {
                    let ty = body.get("type").cloned().unwrap_or(Value::Null);
                    if !(ty.is_null() || ty == "snapshot" || ty == "backup") {
                        return err(422, "invalid_input", "invalid type");
                    }
                    let desc = body
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("auto");
                    let labels = body.get("labels").cloned().unwrap_or(json!({}));
                    st.next_id += 1;
                    let img = st.next_id;
                    st.clock += ChronoDuration::seconds(1);
                    let created = Utc::now().max(st.clock);
                    st.clock = created;
                    st.images
                        .insert(img, image_json(img, desc, "creating", created, labels, sid));
                    let a = new_action(st, "create_image", Some(sid), Some(img), None);
                    Response::json(
                        201,
                        &json!({"image": st.images[&img], "action": st.actions[&a].action}),
                    )
                }
                "rebuild" => {
                    let image = body.get("image").cloned().unwrap_or(Value::Null);
                    let Some(key) = id_or_name(&image) else {
                        return err(422, "invalid_input", "image is missing");
                    };
                    st.rebuilds.push(image);
                    if key
                        .parse::<i64>()
                        .ok()
                        .and_then(|i| st.images.get(&i))
                        .is_none()
                    {
                        return err(404, "not_found", "image not found");
                    }
                    let a = new_action(st, "rebuild_server", Some(sid), None, None);
                    Response::json(
                        201,
                        &json!({"action": st.actions[&a].action, "root_password": null}),
                    )
                }
                _ => err(404, "not_found", "unknown action"),
            }
        }
        ("GET", ["actions", id]) => {
            let Some(a) = id.parse::<i64>().ok().and_then(|i| st.actions.get_mut(&i)) else {
                return err(404, "not_found", "action not found");
            };
            if a.action["status"] == "running" && a.polls_left != u32::MAX {
                if a.polls_left > 0 {
                    a.polls_left -= 1;
                }
                let total = st.action_polls.max(1);
                if a.polls_left == 0 {
                    let a = a.clone();
                    finish(st, id.parse().unwrap(), a);
                } else {
                    let done = total.saturating_sub(a.polls_left);
                    a.action["progress"] = json!((done * 100 / total).min(99));
                }
            }
            let a = &st.actions[&id.parse::<i64>().unwrap()];
            Response::json(200, &json!({"action": a.action}))
        }
        ("GET", ["images"]) => list_images(st, req),
        ("GET", ["images", id]) => match id.parse::<i64>().ok().and_then(|i| st.images.get(&i)) {
            Some(i) => Response::json(200, &json!({"image": i})),
            None => err(404, "not_found", "image not found"),
        },
        ("DELETE", ["images", id]) => {
            match id.parse::<i64>().ok().and_then(|i| st.images.remove(&i)) {
                Some(_) => Response::empty(204),
                None => err(404, "not_found", "image not found"),
            }
        }
        _ => err(404, "not_found", "not found"),
    }
}

fn finish(st: &mut HetznerState, id: i64, a: ActionState) {
    let finished = ts(Utc::now());
    let failed = a.fail.clone();
    {
        let act = st.actions.get_mut(&id).unwrap();
        act.action["finished"] = json!(finished);
        match &failed {
            Some((code, message)) => {
                act.action["status"] = json!("error");
                act.action["error"] = json!({"code": code, "message": message});
            }
            None => {
                act.action["status"] = json!("success");
                act.action["progress"] = json!(100);
            }
        }
    }
    if let Some(img) = a.image {
        if let Some(i) = st.images.get_mut(&img) {
            if failed.is_none() {
                i["status"] = json!("available");
                i["image_size"] = json!(1.5);
            } else {
                i["status"] = json!("unavailable");
            }
        }
    }
    if let (Some(s), None) = (a.boots, &failed) {
        if let Some(srv) = st.servers.get_mut(&s) {
            srv["status"] = json!("running");
        }
    }
}

fn list_images(st: &HetznerState, req: &Request) -> Response {
    let types: Vec<&str> = req
        .query
        .iter()
        .filter(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
        .collect();
    let selector = req.q("label_selector");
    let mut list: Vec<Value> = st
        .images
        .values()
        .filter(|i| types.is_empty() || types.iter().any(|t| i["type"] == *t))
        .filter(|i| selector.is_none_or(|s| selector_matches(s, &i["labels"])))
        .cloned()
        .collect();
    for (_, sort) in req.query.iter().filter(|(k, _)| k == "sort").rev() {
        let (field, desc) = match sort.split_once(':') {
            Some((f, d)) => (f, d == "desc"),
            None => (sort.as_str(), false),
        };
        list.sort_by(|a, b| {
            let o = match field {
                "created" => a["created"].as_str().cmp(&b["created"].as_str()),
                "id" => a["id"].as_i64().cmp(&b["id"].as_i64()),
                _ => a["description"].as_str().cmp(&b["description"].as_str()),
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let per_page = req
        .q("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(25)
        .clamp(1, st.max_per_page);
    let page = req
        .q("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = list.len();
    let last = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = list
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let next = if page < last {
        json!(page + 1)
    } else {
        Value::Null
    };
    let prev = if page > 1 {
        json!(page - 1)
    } else {
        Value::Null
    };
    let mut links = vec![];
    if page > 1 {
        links.push(format!("</v1/images?page={}>; rel=\"prev\"", page - 1));
    }
    if page < last {
        links.push(format!("</v1/images?page={}>; rel=\"next\"", page + 1));
    }
    links.push(format!("</v1/images?page={last}>; rel=\"last\""));
    Response::json(
        200,
        &json!({"images": items, "meta": {"pagination": {
        "page": page, "per_page": per_page, "previous_page": prev, "next_page": next,
        "last_page": last, "total_entries": total}}}),
    )
    .with("Link", links.join(", "))
}
