//! Contabo snapshots over the Contabo API (`https://api.contabo.com`).
//!
//! - Auth: OAuth2 password grant against Contabo's Keycloak (form POST); the access token is
//!   cached until shortly before `expires_in` runs out, and fetched again once after a 401.
//! - Every call carries `Authorization: Bearer`, a fresh uuid4 `x-request-id` (required by the
//!   API) and one `x-trace-id` per client, grouping the calls of one run.
//! - Answers come in an envelope `{"data":[...], "_links", "_pagination"}`; `data` is always an
//!   array.
//! - Contabo snapshots have no labels and no status: ours are those whose name starts with the
//!   configured prefix (names look like `rb-2026-12-04-0300`), and a created snapshot counts as
//!   available.
//! - Plans allow 1–5 snapshots. Over the limit, create answers 402 ("Total snapshots exceed the
//!   total max limit of N snapshots"); then the oldest of OUR snapshots is deleted and the create
//!   retried once. Foreign snapshots are never deleted.
//! - Rollback (`restore_snapshot`) **deletes every snapshot newer than the one rolled back to**.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{json, Value};

use super::{Provider, Snapshot, SnapshotStatus};
use crate::context::control::Control;
use crate::context::secrets::Secret;
use crate::error::{Error, Result};
use crate::host::http::{uuid4, ApiError, ApiRequest, ApiResponse, Body, HttpClient, RetryPolicy};

/// The public API.
pub const DEFAULT_API_BASE: &str = "https://api.contabo.com";
/// Contabo's token endpoint.
pub const DEFAULT_AUTH_URL: &str =
    "https://auth.contabo.com/auth/realms/contabo/protocol/openid-connect/token";
/// Longest snapshot name Contabo accepts.
pub const MAX_NAME_LEN: usize = 30;
/// Page size when listing.
const PAGE_SIZE: u32 = 100;

/// A client for the snapshots of one Contabo compute instance.
pub struct ContaboClient {
    http: HttpClient,
    api_base: String,
    auth_url: String,
    client_id: String,
    client_secret: Secret,
    user: String,
    password: Secret,
    instance_id: i64,
    name_prefix: String,
    trace_id: String,
    token: Mutex<Option<(String, Instant)>>,
}

impl ContaboClient {
    /// A client for instance `instance_id`. `name_prefix` marks our snapshots (letters, digits,
    /// spaces and dashes; at most 15 characters, so prefix + timestamp fits Contabo's 30).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api_base: &str,
        auth_url: &str,
        client_id: &str,
        client_secret: Secret,
        user: &str,
        password: Secret,
        instance_id: i64,
        name_prefix: &str,
    ) -> Result<Self> {
        if name_prefix.is_empty()
            || name_prefix.len() + 15 > MAX_NAME_LEN
            || !name_prefix.chars().all(name_char_ok)
        {
            return Err(Error::usage(format!(
                "contabo: the snapshot name prefix \"{name_prefix}\" is not usable"
            ))
            .with_hint("use 1–15 letters, digits, spaces or dashes, e.g. \"rb-\""));
        }
        let http = HttpClient::new("contabo", RetryPolicy::default())?;
        http.scrub(client_secret.expose());
        http.scrub(password.expose());
        Ok(ContaboClient {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            auth_url: auth_url.to_string(),
            client_id: client_id.to_string(),
            client_secret,
            user: user.to_string(),
            password,
            instance_id,
            name_prefix: name_prefix.to_string(),
            trace_id: format!("runbook-{}", uuid4()),
            token: Mutex::new(None),
        })
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Result<Self> {
        self.http.set_policy(policy)?;
        self.http.scrub(self.client_secret.expose());
        self.http.scrub(self.password.expose());
        Ok(self)
    }

    /// The name a snapshot taken at `at` gets: `<prefix><YYYY-MM-DD-HHMM>`.
    pub fn snapshot_name(&self, at: DateTime<Utc>) -> String {
        format!("{}{}", self.name_prefix, at.format("%Y-%m-%d-%H%M"))
    }

    fn access_token(&self, control: &Control) -> Result<String> {
        {
            let t = self.token.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((tok, until)) = &*t {
                if Instant::now() < *until {
                    return Ok(tok.clone());
                }
            }
        }
        let form = vec![
            ("client_id".to_string(), self.client_id.clone()),
            (
                "client_secret".to_string(),
                self.client_secret.expose().to_string(),
            ),
            ("username".to_string(), self.user.clone()),
            ("password".to_string(), self.password.expose().to_string()),
            ("grant_type".to_string(), "password".to_string()),
        ];
        let req = ApiRequest {
            method: Method::POST,
            url: self.auth_url.clone(),
            headers: vec![],
            body: Body::Form(form),
        };
        let what = format!("signing in as API user {}", self.user);
        let v = self
            .http
            .send(&what, control, &mut || Ok(req.clone()))?
            .json()?;
        let tok = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::failed("contabo: the token answer has no access_token"))?
            .to_string();
        self.http.scrub(&tok);
        let expires = v.get("expires_in").and_then(Value::as_u64).unwrap_or(60);
        // Renew a little early so a token does not run out in flight.
        let life = Duration::from_secs(expires.saturating_sub(expires.min(30) / 2).max(1));
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((tok.clone(), Instant::now() + life));
        Ok(tok)
    }

    fn api_raw(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        control: &Control,
    ) -> Result<std::result::Result<ApiResponse, ApiError>> {
        for fresh_token in [false, true] {
            let token = self.access_token(control)?;
            let url = format!("{}{}", self.api_base, path);
            let mut build = || {
                Ok(ApiRequest {
                    method: method.clone(),
                    url: url.clone(),
                    headers: vec![
                        ("Authorization".into(), format!("Bearer {token}")),
                        ("x-request-id".into(), uuid4()),
                        ("x-trace-id".into(), self.trace_id.clone()),
                    ],
                    body: body.clone().map(Body::Json).unwrap_or(Body::None),
                })
            };
            let r = self.http.send_raw(what, control, &mut build)?;
            match r {
                Err(e) if e.status == 401 && !fresh_token => {
                    // The cached token may have been revoked; sign in again once.
                    *self.token.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                other => return Ok(other),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    fn api(
        &self,
        what: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        control: &Control,
    ) -> Result<ApiResponse> {
        self.api_raw(what, method, path, body, control)?
            .map_err(|e| self.http.api_error(what, &e))
    }

    fn snapshots_path(&self) -> String {
        format!("/v1/compute/instances/{}/snapshots", self.instance_id)
    }

    fn parse_snapshot(&self, v: &Value) -> Result<Snapshot> {
        let id = v
            .get("snapshotId")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::failed("contabo: a snapshot in the answer has no snapshotId"))?
            .to_string();
        let name = v
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let created = v
            .get("createdDate")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(|| {
                Error::failed(format!("contabo: snapshot {id} has no valid createdDate"))
            })?;
        Ok(Snapshot {
            ours: name.starts_with(&self.name_prefix),
            id,
            name,
            created,
            status: SnapshotStatus::Available,
            size_gb: None,
        })
    }

    fn do_create(
        &self,
        name: &str,
        description: &str,
        control: &Control,
    ) -> Result<std::result::Result<Snapshot, ApiError>> {
        let mut body = json!({ "name": name });
        let desc: String = description.chars().take(255).collect();
        if !desc.trim().is_empty() {
            body["description"] = json!(desc);
        }
        let what = format!(
            "creating snapshot \"{name}\" of instance {}",
            self.instance_id
        );
        match self.api_raw(
            &what,
            Method::POST,
            &self.snapshots_path(),
            Some(body),
            control,
        )? {
            Ok(resp) => {
                let v = resp.json()?;
                let item = v
                    .get("data")
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .ok_or_else(|| {
                        Error::failed("contabo: create answered with an empty `data`")
                    })?;
                Ok(Ok(self.parse_snapshot(item)?))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Rolls the instance back to snapshot `id` and returns the snapshots that Contabo deleted
    /// because they were newer than it. **Destructive twice over**: the disk is overwritten and
    /// every newer snapshot is gone. (Contabo's CLI says only the newest snapshot can be rolled
    /// back to; the API spec says newer ones are deleted. Either way, the error is reported.)
    pub fn rollback(&self, id: &str, control: &Control) -> Result<Vec<Snapshot>> {
        let before = self.list_snapshots(control)?;
        let target = before.iter().find(|s| s.id == id).ok_or_else(|| {
            Error::failed(format!(
                "contabo: instance {} has no snapshot {id}",
                self.instance_id
            ))
            .with_hint("list the snapshots and pass one of their ids")
        })?;
        let newer: Vec<&Snapshot> = before
            .iter()
            .filter(|s| s.created > target.created)
            .collect();
        if !newer.is_empty() {
            control.note(&format!(
                "rolling back to {} deletes {} newer snapshot(s): {}",
                target.name,
                newer.len(),
                newer
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        self.api(
            &format!(
                "rolling instance {} back to snapshot {id}",
                self.instance_id
            ),
            Method::POST,
            &format!("{}/{id}/rollback", self.snapshots_path()),
            Some(json!({})),
            control,
        )?;
        let after = self.list_snapshots(control)?;
        Ok(before
            .into_iter()
            .filter(|s| !after.iter().any(|a| a.id == s.id))
            .collect())
    }
}

fn name_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ' ' || c == '-'
}

impl Provider for ContaboClient {
    fn describe(&self) -> String {
        format!("contabo instance {}", self.instance_id)
    }

    fn list_snapshots(&self, control: &Control) -> Result<Vec<Snapshot>> {
        let mut out = Vec::new();
        let mut page: u64 = 1;
        loop {
            control.check()?;
            let v = self
                .api(
                    &format!(
                        "listing snapshots of instance {} (page {page})",
                        self.instance_id
                    ),
                    Method::GET,
                    &format!("{}?page={page}&size={PAGE_SIZE}", self.snapshots_path()),
                    None,
                    control,
                )?
                .json()?;
            for s in v
                .get("data")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                out.push(self.parse_snapshot(s)?);
            }
            let total_pages = v
                .pointer("/_pagination/totalPages")
                .and_then(Value::as_f64)
                .unwrap_or(1.0) as u64;
            let empty = v
                .get("data")
                .and_then(Value::as_array)
                .is_none_or(|a| a.is_empty());
            if page < total_pages && !empty {
                page += 1;
            } else {
                break;
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.created));
        Ok(out)
    }

    /// Creates `<prefix><timestamp>`; on 402 (plan limit) deletes our oldest snapshot and
    /// retries once.
    fn create_snapshot(&self, description: &str, control: &Control) -> Result<Snapshot> {
        let name = self.snapshot_name(Utc::now());
        let what = format!(
            "creating snapshot \"{name}\" of instance {}",
            self.instance_id
        );
        let err = match self.do_create(&name, description, control)? {
            Ok(s) => return Ok(s),
            Err(e) if e.status == 402 => e,
            Err(e) => return Err(self.http.api_error(&what, &e)),
        };
        let limit_msg = err
            .message
            .clone()
            .unwrap_or_else(|| "plan limit reached".into());
        if limit_msg.contains("limit of 0 ") {
            return Err(Error::failed(format!(
                "contabo: instance {} cannot have snapshots: {limit_msg}",
                self.instance_id
            ))
            .with_hint(
                "this product has no snapshot slots (e.g. Storage VPS); use file-level backups",
            ));
        }
        let own_oldest = self
            .list_snapshots(control)?
            .into_iter()
            .filter(|s| s.ours)
            .min_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        let Some(oldest) = own_oldest else {
            return Err(Error::failed(format!(
                "contabo: {what}: the plan's snapshot limit is reached (\"{limit_msg}\") and none of the existing snapshots is ours (prefix \"{}\")",
                self.name_prefix
            ))
            .with_hint("runbook never deletes snapshots it did not make: delete one by hand, or move to a plan with more snapshot slots"));
        };
        control.note(&format!(
            "snapshot limit reached ({limit_msg}); deleting our oldest snapshot {} ({})",
            oldest.name, oldest.id
        ));
        self.delete_snapshot(&oldest.id, control)?;
        match self.do_create(&name, description, control)? {
            Ok(s) => Ok(s),
            Err(e) => Err(self
                .http
                .api_error(&format!("{what} (after deleting {})", oldest.name), &e)),
        }
    }

    fn delete_snapshot(&self, id: &str, control: &Control) -> Result<()> {
        self.api(
            &format!("deleting snapshot {id} of instance {}", self.instance_id),
            Method::DELETE,
            &format!("{}/{id}", self.snapshots_path()),
            None,
            control,
        )?;
        Ok(())
    }

    /// Rolls back; see [`ContaboClient::rollback`] — every newer snapshot is deleted.
    fn restore_snapshot(&self, id: &str, control: &Control) -> Result<()> {
        self.rollback(id, control).map(|_| ())
    }
}
