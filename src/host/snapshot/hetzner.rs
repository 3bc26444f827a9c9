//! Hetzner Cloud snapshots over the public API (`https://api.hetzner.cloud/v1`).
//!
//! - Create: `POST /servers/{id}/actions/create_image` with `type: snapshot` and our labels
//!   (`managed-by=runbook`, `runbook-server=<id>`), then poll `GET /actions/{id}` until the action
//!   is no longer `running`, showing its `progress`.
//! - List: `GET /images?type=snapshot&label_selector=…&sort=created:desc&per_page=50`, following
//!   `meta.pagination.next_page`. Only labelled snapshots are listed (snapshots made by hand are
//!   never seen, so never touched); `ours` is re-checked on the labels client-side.
//! - Restore: `POST /servers/{id}/actions/rebuild` with the image id (destroys the disk).
//! - Boot copy: `POST /servers` with the source server's `server_type` and `location` (never
//!   `datacenter`, removed from the API in 2026), labels `managed-by=runbook`,
//!   `runbook-role=boot-verify`; deleted with `DELETE /servers/{id}`.

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use super::{BootedCopy, Provider, Snapshot, SnapshotStatus};
use crate::context::control::Control;
use crate::context::secrets::Secret;
use crate::error::{Error, Result};
use crate::host::http::{
    form_encode, random_u64, sleep_checked, ApiRequest, Body, HttpClient, RetryPolicy,
};

/// The public API.
pub const DEFAULT_BASE_URL: &str = "https://api.hetzner.cloud/v1";
/// Label marking everything runbook creates.
pub const LABEL_MANAGED_BY: &str = "managed-by";
/// Label naming the server a snapshot was taken of.
pub const LABEL_SERVER: &str = "runbook-server";
/// Label marking a boot-verify copy.
pub const LABEL_ROLE: &str = "runbook-role";

/// The source server's facts needed to take snapshots and boot copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Numeric id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Server type name (e.g. `cx22`).
    pub server_type: String,
    /// Location name (e.g. `fsn1`).
    pub location: String,
}

/// A client for one Hetzner Cloud server.
pub struct HetznerClient {
    http: HttpClient,
    base: String,
    token: Secret,
    server_ref: String,
    server: OnceLock<ServerInfo>,
    poll_interval: Duration,
}

impl HetznerClient {
    /// A client for `server` (a numeric id or a name) at `base_url` (use [`DEFAULT_BASE_URL`]).
    pub fn new(base_url: &str, token: Secret, server: &str) -> Result<Self> {
        let server_ref = server.trim().to_string();
        if server_ref.is_empty() {
            return Err(Error::usage("hetzner: the server id or name is empty"));
        }
        if token.expose().trim().is_empty() {
            return Err(Error::usage(format!(
                "hetzner: the API token {} is empty",
                token.name()
            )));
        }
        let http = HttpClient::new("hetzner", RetryPolicy::default())?;
        http.scrub(token.expose());
        Ok(HetznerClient {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token,
            server_ref,
            server: OnceLock::new(),
            poll_interval: Duration::from_millis(500),
        })
    }

    /// Sets how often actions are polled (default 500 ms, as Hetzner's own SDK does).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Result<Self> {
        self.http.set_policy(policy)?;
        self.http.scrub(self.token.expose());
        Ok(self)
    }

    fn request(&self, method: Method, path: &str, body: Option<Value>) -> ApiRequest {
        ApiRequest {
            method,
            url: format!("{}{}", self.base, path),
            headers: vec![(
                "Authorization".into(),
                format!("Bearer {}", self.token.expose()),
            )],
            body: body.map(Body::Json).unwrap_or(Body::None),
        }
    }

    fn call(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        control: &Control,
    ) -> Result<Value> {
        let req = self.request(method, path, body);
        self.http
            .send(what, control, &mut || Ok(req.clone()))?
            .json()
    }

    /// The source server (resolved by id or name on first use, then cached).
    pub fn server(&self, control: &Control) -> Result<ServerInfo> {
        if let Some(s) = self.server.get() {
            return Ok(s.clone());
        }
        let what = format!("looking up server {}", self.server_ref);
        let v =
            if self.server_ref.chars().all(|c| c.is_ascii_digit()) {
                let v = self.call(
                    &what,
                    Method::GET,
                    &format!("/servers/{}", self.server_ref),
                    None,
                    control,
                )?;
                v.get("server").cloned().unwrap_or(Value::Null)
            } else {
                let q = form_encode(&[("name", &self.server_ref)]);
                let v = self.call(&what, Method::GET, &format!("/servers?{q}"), None, control)?;
                match v
                    .get("servers")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                {
                    Some(s) => s.clone(),
                    None => return Err(Error::failed(format!(
                        "hetzner: there is no server named \"{}\" in this project",
                        self.server_ref
                    ))
                    .with_hint(
                        "check the server name, and that the token belongs to the server's project",
                    )),
                }
            };
        let info = parse_server(&v).ok_or_else(|| {
            Error::failed(format!(
                "hetzner: the answer for server {} lacks id, server_type or location",
                self.server_ref
            ))
        })?;
        Ok(self.server.get_or_init(|| info).clone())
    }

    /// Polls `GET /actions/{id}` until the action leaves `running`; fails with the action's
    /// error code and message.
    pub fn wait_action(&self, action: &Value, what: &str, control: &Control) -> Result<()> {
        let id = action.get("id").and_then(Value::as_i64).ok_or_else(|| {
            Error::failed(format!("hetzner: {what}: the answer has no action id"))
        })?;
        let mut current = action.clone();
        let mut last_progress = -1i64;
        loop {
            let status = current.get("status").and_then(Value::as_str).unwrap_or("");
            let progress = current.get("progress").and_then(Value::as_i64).unwrap_or(0);
            if progress != last_progress {
                control.note(&format!("{what}: {progress}%"));
                last_progress = progress;
            }
            match status {
                "running" => {}
                "success" => return Ok(()),
                "error" => {
                    let err = current.get("error").cloned().unwrap_or(Value::Null);
                    let code = err
                        .get("code")
                        .and_then(Value::as_str)
                        .unwrap_or("unknown_error");
                    let message = err
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("no message");
                    return Err(Error::failed(format!(
                        "hetzner: {what} failed (action {id}): {code}: {message}"
                    ))
                    .with_hint(
                        "see the action in the Hetzner console; run again once the cause is fixed",
                    ));
                }
                other => {
                    return Err(Error::failed(format!(
                        "hetzner: {what}: action {id} has an unknown status \"{other}\""
                    )))
                }
            }
            sleep_checked(self.poll_interval, control)?;
            let v = self.call(
                &format!("{what}: polling action {id}"),
                Method::GET,
                &format!("/actions/{id}"),
                None,
                control,
            )?;
            current = v.get("action").cloned().unwrap_or(Value::Null);
        }
    }

    fn get_image(&self, id: i64, control: &Control) -> Result<Snapshot> {
        let v = self.call(
            &format!("reading image {id}"),
            Method::GET,
            &format!("/images/{id}"),
            None,
            control,
        )?;
        let server = self.server(control)?;
        parse_image(v.get("image").unwrap_or(&Value::Null), server.id)
    }
}

fn name_of(v: Option<&Value>) -> Option<String> {
    let v = v?;
    v.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| v.as_str().map(str::to_string))
        .or_else(|| v.get("id").and_then(Value::as_i64).map(|i| i.to_string()))
}

fn parse_server(v: &Value) -> Option<ServerInfo> {
    Some(ServerInfo {
        id: v.get("id")?.as_i64()?,
        name: v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        server_type: name_of(v.get("server_type"))?,
        location: name_of(v.get("location"))?,
    })
}

fn parse_image(v: &Value, server_id: i64) -> Result<Snapshot> {
    let id = v
        .get("id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::failed("hetzner: an image in the answer has no id"))?;
    let created = v
        .get("created")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| Error::failed(format!("hetzner: image {id} has no valid `created` time")))?;
    let status = match v.get("status").and_then(Value::as_str).unwrap_or("") {
        "available" => SnapshotStatus::Available,
        "creating" => SnapshotStatus::Creating,
        other => SnapshotStatus::Unknown(other.to_string()),
    };
    let labels = v.get("labels");
    let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let ours = label(LABEL_MANAGED_BY) == Some("runbook")
        && label(LABEL_SERVER) == Some(server_id.to_string().as_str());
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| v.get("description").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    Ok(Snapshot {
        id: id.to_string(),
        name,
        created,
        status,
        ours,
        size_gb: v.get("image_size").and_then(Value::as_f64),
    })
}

fn image_id(id: &str) -> Result<i64> {
    id.trim().parse::<i64>().map_err(|_| {
        Error::usage(format!("hetzner: \"{id}\" is not a snapshot id (a number)"))
            .with_hint("pass the numeric image id shown by the snapshot list")
    })
}

impl Provider for HetznerClient {
    fn describe(&self) -> String {
        format!("hetzner server {}", self.server_ref)
    }

    fn list_snapshots(&self, control: &Control) -> Result<Vec<Snapshot>> {
        let server = self.server(control)?;
        let selector = format!("{LABEL_MANAGED_BY}=runbook,{LABEL_SERVER}={}", server.id);
        let mut out = Vec::new();
        let mut page: i64 = 1;
        loop {
            control.check()?;
            let page_s = page.to_string();
            let q = form_encode(&[
                ("type", "snapshot"),
                ("label_selector", &selector),
                ("sort", "created:desc"),
                ("per_page", "50"),
                ("page", &page_s),
            ]);
            let v = self.call(
                &format!("listing snapshots of server {} (page {page})", server.id),
                Method::GET,
                &format!("/images?{q}"),
                None,
                control,
            )?;
            for img in v
                .get("images")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(parse_image(img, server.id)?);
            }
            match v
                .pointer("/meta/pagination/next_page")
                .and_then(Value::as_i64)
            {
                Some(next) if next > page => page = next,
                _ => break,
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    fn create_snapshot(&self, description: &str, control: &Control) -> Result<Snapshot> {
        let server = self.server(control)?;
        let body = json!({
            "type": "snapshot",
            "description": description,
            "labels": { LABEL_MANAGED_BY: "runbook", LABEL_SERVER: server.id.to_string() },
        });
        let v = self.call(
            &format!("creating a snapshot of server {}", server.id),
            Method::POST,
            &format!("/servers/{}/actions/create_image", server.id),
            Some(body),
            control,
        )?;
        let image_id = v
            .pointer("/image/id")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::failed("hetzner: create_image answered without an image id"))?;
        let action = v.get("action").cloned().unwrap_or(Value::Null);
        self.wait_action(
            &action,
            &format!("snapshot {image_id} of server {}", server.id),
            control,
        )?;
        // The action is done; the image flips to `available` at about the same time.
        loop {
            let snap = self.get_image(image_id, control)?;
            if snap.status != SnapshotStatus::Creating {
                return Ok(snap);
            }
            sleep_checked(self.poll_interval, control)?;
        }
    }

    fn delete_snapshot(&self, id: &str, control: &Control) -> Result<()> {
        let n = image_id(id)?;
        self.call(
            &format!("deleting snapshot {n}"),
            Method::DELETE,
            &format!("/images/{n}"),
            None,
            control,
        )?;
        Ok(())
    }

    /// Rebuilds the server in place from the snapshot: its disk is overwritten.
    fn restore_snapshot(&self, id: &str, control: &Control) -> Result<()> {
        let n = image_id(id)?;
        let server = self.server(control)?;
        let v = self.call(
            &format!("rebuilding server {} from snapshot {n}", server.id),
            Method::POST,
            &format!("/servers/{}/actions/rebuild", server.id),
            Some(json!({ "image": n })),
            control,
        )?;
        let action = v.get("action").cloned().unwrap_or(Value::Null);
        self.wait_action(
            &action,
            &format!("rebuild of server {} from snapshot {n}", server.id),
            control,
        )
    }

    fn boots_copies(&self) -> bool {
        true
    }

    fn boot_copy(&self, id: &str, control: &Control) -> Result<Option<BootedCopy>> {
        let n = image_id(id)?;
        let server = self.server(control)?;
        let name = format!("runbook-verify-{n}-{:08x}", random_u64() as u32);
        let body = json!({
            "name": name,
            "server_type": server.server_type,
            "image": n,
            "location": server.location,
            "start_after_create": true,
            "labels": { LABEL_MANAGED_BY: "runbook", LABEL_ROLE: "boot-verify" },
        });
        let v = self.call(
            &format!("booting a copy of snapshot {n}"),
            Method::POST,
            "/servers",
            Some(body),
            control,
        )?;
        let copy_id = v
            .pointer("/server/id")
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::failed("hetzner: POST /servers answered without a server id"))?;
        let address = v
            .pointer("/server/public_net/ipv4/ip")
            .or_else(|| v.pointer("/server/public_net/ipv6/ip"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let copy = BootedCopy {
            id: copy_id.to_string(),
            address,
        };
        let mut waits = vec![v.get("action").cloned().unwrap_or(Value::Null)];
        waits.extend(
            v.get("next_actions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        );
        for action in waits {
            if let Err(e) = self.wait_action(&action, &format!("booting copy {copy_id}"), control) {
                if let Err(d) = self.delete_copy(&copy, &Control::detached()) {
                    return Err(Error::new(
                        e.kind(),
                        format!(
                            "{}; also could not delete copy {copy_id}: {}",
                            e.message(),
                            d.message()
                        ),
                    )
                    .with_hint(format!(
                        "delete server {copy_id} by hand; it is billed while it exists"
                    )));
                }
                return Err(e);
            }
        }
        Ok(Some(copy))
    }

    fn delete_copy(&self, copy: &BootedCopy, control: &Control) -> Result<()> {
        let req = self.request(Method::DELETE, &format!("/servers/{}", copy.id), None);
        let what = format!("deleting boot-verify copy {}", copy.id);
        match self
            .http
            .send_raw(&what, control, &mut || Ok(req.clone()))?
        {
            Ok(_) => Ok(()),
            Err(e) if e.status == 404 => Ok(()),
            Err(e) => Err(self.http.api_error(&what, &e)),
        }
    }
}
