//! Shared HTTP handling for the provider API clients (Hetzner, Contabo, the Supabase Management
//! API): one request with retries, exponential backoff with full jitter, rate-limit headers, and
//! error bodies turned into messages that name the provider's own code and text (and never a
//! token).
//!
//! Retried: HTTP 429, 502, 503, 504, network errors and timeouts, and Hetzner's `conflict` code.
//! Never retried: 423 / `locked` (another action runs on the server; retrying blindly would race
//! it) and every other 4xx. On 429 the wait honours `Retry-After` (seconds or an HTTP date) or the
//! provider's rate-limit reset header, read as its [`RateLimitHeaders`] say (Hetzner:
//! `RateLimit-Reset`, a UNIX time; Supabase: `X-RateLimit-Reset`, seconds from now), capped by
//! [`RetryPolicy::cap`]. Between retries and while a request is in flight, [`Control::check`] is
//! polled so Ctrl-C and step deadlines stop the call promptly.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::context::control::Control;
use crate::context::secrets::MASK;
use crate::error::{Error, Result};
use crate::host::runtime::block_on;

/// The `User-Agent` every provider request carries.
pub const USER_AGENT: &str = concat!("runbook/", env!("CARGO_PKG_VERSION"));

/// How often a waiting call looks at [`Control::check`].
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// How retries are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so `max_retries + 1` attempts in all).
    pub max_retries: u32,
    /// The first backoff step; step `n` is `base * 2^n` (with full jitter), capped at `cap`.
    pub base: Duration,
    /// The longest single wait, also for waits asked for by rate-limit headers.
    pub cap: Duration,
    /// How long one request may take before it counts as a (retryable) network timeout.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    /// The policy of Hetzner's own Go SDK: 5 retries, 1 s base, ×2, 60 s cap, full jitter.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The jittered wait before retry number `attempt` (0-based): uniform in `[0, min(cap, base·2^attempt)]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(30)));
        let ceiling = exp.min(self.cap);
        let nanos = ceiling.as_nanos() as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(random_u64() % (nanos + 1))
    }
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body.
    None,
    /// A JSON body (`Content-Type: application/json`).
    Json(serde_json::Value),
    /// A form body (`Content-Type: application/x-www-form-urlencoded`), pairs unencoded.
    Form(Vec<(String, String)>),
}

/// One request to send (rebuilt for every attempt, so headers such as a request id stay fresh).
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Full URL, query included.
    pub url: String,
    /// Extra headers (authorisation, request ids).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

/// A successful (2xx) response.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as text (empty for 204).
    pub body: String,
}

impl ApiResponse {
    /// The body parsed as JSON (`null` for an empty body).
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&self.body).map_err(|e| {
            Error::failed(format!(
                "the provider answered HTTP {} with a body that is not JSON: {e}",
                self.status
            ))
        })
    }
}

/// A non-2xx answer, parsed: the provider's code and message where the body has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The provider's machine code (`locked`, `invalid_grant`, ...), if any.
    pub code: Option<String>,
    /// The provider's message, if any.
    pub message: Option<String>,
    /// Hetzner's `X-Correlation-Id`, for support requests.
    pub correlation_id: Option<String>,
    /// Supabase's `errorEventId` from the body, for support requests.
    pub event_id: Option<String>,
    /// Permissions the token lacks, from a `missing_permissions` array (Supabase scoped tokens).
    pub missing_permissions: Vec<String>,
    /// How many attempts were made before giving up with this answer (1 when not retried).
    pub attempts: u32,
}

impl ApiError {
    /// Parses an error body of any of the shapes the providers use: Hetzner
    /// `{"error":{"code","message"}}`, Contabo `{"statusCode","message"}`, Keycloak
    /// `{"error","error_description"}`, Supabase `{"message","errorEventId"?,
    /// "missing_permissions"?}`. A body that is none of these is quoted (shortened).
    pub fn parse(status: u16, headers: &HeaderMap, body: &str) -> Self {
        let correlation_id = header_str(headers, "x-correlation-id");
        let mut code = None;
        let mut message = None;
        let mut event_id = None;
        let mut missing_permissions = Vec::new();
        match serde_json::from_str::<serde_json::Value>(body) {
            Ok(v) => {
                event_id = v.get("errorEventId").and_then(json_text);
                missing_permissions = v
                    .get("missing_permissions")
                    .and_then(|m| m.as_array())
                    .map(|a| a.iter().filter_map(json_text).collect())
                    .unwrap_or_default();
                if let Some(e) = v.get("error").filter(|e| e.is_object()) {
                    code = e.get("code").and_then(json_text);
                    message = e.get("message").and_then(json_text);
                } else {
                    if let Some(e) = v.get("error").and_then(json_text) {
                        code = Some(e);
                    }
                    message = v
                        .get("error_description")
                        .or_else(|| v.get("message"))
                        .and_then(json_text);
                    if code.is_none() {
                        code = v.get("statusCode").and_then(json_text);
                    }
                }
            }
            Err(_) => {
                let text = body.trim();
                if !text.is_empty() {
                    let short: String = text.chars().take(200).collect();
                    message = Some(short);
                }
            }
        }
        ApiError {
            status,
            code,
            message,
            correlation_id,
            event_id,
            missing_permissions,
            attempts: 1,
        }
    }

    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        if self.status == 423 || self.code.as_deref() == Some("locked") {
            return false;
        }
        matches!(self.status, 429 | 502 | 503 | 504)
            || matches!(
                self.code.as_deref(),
                Some("conflict" | "rate_limit_exceeded" | "bad_gateway" | "timeout")
            )
    }

    /// `HTTP 423 locked: text (correlation id X)`.
    pub fn describe(&self) -> String {
        let reason = StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut out = format!("HTTP {}", self.status);
        match (&self.code, &self.message) {
            (Some(c), Some(m)) if c != &self.status.to_string() => {
                out.push_str(&format!(" {c}: {m}"))
            }
            (_, Some(m)) => out.push_str(&format!(": {m}")),
            (Some(c), None) if c != &self.status.to_string() => out.push_str(&format!(" {c}")),
            _ => {
                if !reason.is_empty() {
                    out.push_str(&format!(" {reason}"));
                }
            }
        }
        if !self.missing_permissions.is_empty() {
            out.push_str(&format!(
                " (missing permissions: {})",
                self.missing_permissions.join(", ")
            ));
        }
        if let Some(id) = &self.correlation_id {
            out.push_str(&format!(" (correlation id {id})"));
        }
        if let Some(id) = &self.event_id {
            out.push_str(&format!(" (error event id {id})"));
        }
        out
    }

    /// What the user should do about this error.
    pub fn hint(&self) -> Option<&'static str> {
        if self.status == 423 || self.code.as_deref() == Some("locked") {
            return Some(
                "server is locked by another action; wait for it to finish, then run again",
            );
        }
        match self.status {
            400 if self.code.as_deref() == Some("invalid_grant") => {
                Some("the API user or API password is wrong (the API password is set in the control panel, not the login password)")
            }
            401 => Some("the API token or credentials were refused: check that the secret is set, current, and belongs to this project"),
            403 => Some("the token lacks permission (read-only token, or protection enabled on the resource)"),
            404 => Some("check the server / instance / snapshot id"),
            429 => Some("the provider's rate limit is exhausted; wait a few minutes and run again"),
            500..=599 => Some("the provider had a problem; run again later, and check its status page"),
            _ => None,
        }
    }
}

fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// How the reset time in a provider's rate-limit headers is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetClock {
    /// A UNIX time in seconds (Hetzner's `RateLimit-Reset`).
    UnixSeconds,
    /// Seconds from now (Supabase's `X-RateLimit-Reset`).
    SecondsFromNow,
}

/// Which rate-limit headers a provider sends, and how to read the reset time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// The header with the requests left in the window (lower case).
    pub remaining: &'static str,
    /// The header with the time the window resets (lower case).
    pub reset: &'static str,
    /// How the reset time is written.
    pub clock: ResetClock,
}

impl RateLimitHeaders {
    /// Hetzner Cloud: `RateLimit-Remaining`, `RateLimit-Reset` (UNIX seconds).
    pub const HETZNER: RateLimitHeaders = RateLimitHeaders {
        remaining: "ratelimit-remaining",
        reset: "ratelimit-reset",
        clock: ResetClock::UnixSeconds,
    };

    /// The Supabase Management API: `X-RateLimit-Remaining`, `X-RateLimit-Reset` (seconds).
    pub const SUPABASE: RateLimitHeaders = RateLimitHeaders {
        remaining: "x-ratelimit-remaining",
        reset: "x-ratelimit-reset",
        clock: ResetClock::SecondsFromNow,
    };
}

impl Default for RateLimitHeaders {
    fn default() -> Self {
        RateLimitHeaders::HETZNER
    }
}

/// The wait a 429/503 response asks for: `Retry-After`, or the rate-limit reset header (read as
/// `style` says) when no requests remain in the window.
pub fn requested_wait(headers: &HeaderMap, style: RateLimitHeaders) -> Option<Duration> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    if let Some(v) = header_str(headers, "retry-after") {
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(date) = chrono::DateTime::parse_from_rfc2822(&v) {
            let at = Duration::from_secs(date.timestamp().max(0) as u64);
            return Some(at.saturating_sub(now));
        }
    }
    let remaining = header_str(headers, style.remaining).and_then(|v| v.parse::<u64>().ok());
    if remaining.is_none_or(|r| r == 0) {
        if let Some(reset) = header_str(headers, style.reset).and_then(|v| v.parse::<u64>().ok()) {
            return Some(match style.clock {
                ResetClock::UnixSeconds => Duration::from_secs(reset).saturating_sub(now),
                ResetClock::SecondsFromNow => Duration::from_secs(reset),
            });
        }
    }
    None
}

pub use crate::host::runtime::sleep_checked;

/// A random `u64` from the OS.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS random source works");
    u64::from_le_bytes(b)
}

/// A random (version 4) UUID, lower-case hex with dashes.
pub fn uuid4() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the OS random source works");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Percent-encodes `pairs` as `application/x-www-form-urlencoded` (also right for a query).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").expect("static URL parses");
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.query().unwrap_or("").to_string()
}

/// An HTTP client for one provider: retries, rate limits, error messages, secret scrubbing.
pub struct HttpClient {
    provider: &'static str,
    client: reqwest::Client,
    policy: RetryPolicy,
    rate_limit: RateLimitHeaders,
    scrub: Mutex<Vec<String>>,
}

impl HttpClient {
    /// A client whose errors are prefixed with `provider` (e.g. `"hetzner"`).
    pub fn new(provider: &'static str, policy: RetryPolicy) -> Result<Self> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(policy.request_timeout)
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| Error::failed(format!("{provider}: cannot start the HTTP client: {e}")))?;
        Ok(HttpClient {
            provider,
            client,
            policy,
            rate_limit: RateLimitHeaders::default(),
            scrub: Mutex::new(Vec::new()),
        })
    }

    /// Sets which rate-limit headers the provider sends (default [`RateLimitHeaders::HETZNER`]).
    pub fn with_rate_limit_headers(mut self, headers: RateLimitHeaders) -> Self {
        self.rate_limit = headers;
        self
    }

    /// Replaces the retry policy.
    pub fn set_policy(&mut self, policy: RetryPolicy) -> Result<()> {
        let scrub = std::mem::take(&mut *self.scrub.lock().unwrap_or_else(|e| e.into_inner()));
        *self = HttpClient::new(self.provider, policy)?.with_rate_limit_headers(self.rate_limit);
        *self.scrub.lock().unwrap_or_else(|e| e.into_inner()) = scrub;
        Ok(())
    }

    /// The provider name that prefixes messages.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The retry policy in force.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Registers a value (a token) that must never appear in a message from this client.
    pub fn scrub(&self, value: &str) {
        if value.is_empty() {
            return;
        }
        let mut s = self.scrub.lock().unwrap_or_else(|e| e.into_inner());
        if !s.iter().any(|v| v == value) {
            s.push(value.to_string());
        }
    }

    /// `text` with every registered secret value masked.
    pub fn clean(&self, text: &str) -> String {
        let s = self.scrub.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for v in s.iter() {
            out = out.replace(v.as_str(), MASK);
        }
        out
    }

    /// Sends the request built by `build` (called once per attempt), retrying what is worth
    /// retrying. `what` says what the call does ("listing snapshots of server 42"), for messages.
    /// A non-2xx answer that is not retried (or still fails after the last retry) comes back as
    /// `Err(ApiError)` inside `Ok`, so callers can react to specific codes (402, 404).
    pub fn send_raw(
        &self,
        what: &str,
        control: &Control,
        build: &mut dyn FnMut() -> Result<ApiRequest>,
    ) -> Result<std::result::Result<ApiResponse, ApiError>> {
        let mut attempt = 0u32;
        loop {
            control.check()?;
            let req = build()?;
            let outcome = self.attempt(req, control)?;
            let (wait_hint, failure) = match outcome {
                Attempt::Done(resp) => return Ok(Ok(resp)),
                Attempt::Api(mut err, headers) => {
                    if !err.retryable() || attempt >= self.policy.max_retries {
                        err.attempts = attempt + 1;
                        return Ok(Err(err));
                    }
                    let wait = requested_wait(&headers, self.rate_limit);
                    (wait, err.describe())
                }
                Attempt::Network(msg) => {
                    if attempt >= self.policy.max_retries {
                        return Err(Error::failed(self.clean(&format!(
                            "{}: {what}: {msg} (after {} attempts)",
                            self.provider,
                            attempt + 1
                        )))
                        .with_hint("check the network and the API address, then run again"));
                    }
                    (None, msg)
                }
            };
            let backoff = self.policy.backoff(attempt);
            let wait = match wait_hint {
                Some(w) => w
                    .min(self.policy.cap)
                    .max(backoff.min(Duration::from_millis(100))),
                None => backoff,
            };
            control.note(&self.clean(&format!(
                "{}: {what}: {failure}; retrying in {:.1}s",
                self.provider,
                wait.as_secs_f64()
            )));
            sleep_checked(wait, control)?;
            attempt += 1;
        }
    }

    /// Like [`HttpClient::send_raw`], but an API error becomes an [`Error`] naming the provider's
    /// code and message.
    pub fn send(
        &self,
        what: &str,
        control: &Control,
        build: &mut dyn FnMut() -> Result<ApiRequest>,
    ) -> Result<ApiResponse> {
        match self.send_raw(what, control, build)? {
            Ok(r) => Ok(r),
            Err(e) => Err(self.api_error(what, &e)),
        }
    }

    /// The user-facing error for an API error.
    pub fn api_error(&self, what: &str, e: &ApiError) -> Error {
        let mut err =
            Error::failed(self.clean(&format!("{}: {what}: {}", self.provider, e.describe())));
        if let Some(h) = e.hint() {
            err = err.with_hint(h);
        }
        err
    }

    fn attempt(&self, req: ApiRequest, control: &Control) -> Result<Attempt> {
        let mut rb = self
            .client
            .request(req.method, &req.url)
            .header("Accept", "application/json");
        for (k, v) in &req.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        rb = match req.body {
            Body::None => rb,
            Body::Json(v) => rb
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(&v).expect("JSON values serialise")),
            Body::Form(pairs) => {
                let refs: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                rb.header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form_encode(&refs))
            }
        };
        let fut = async move {
            let resp = rb.send().await?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.text().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        };
        let result = block_on(async {
            tokio::pin!(fut);
            let mut tick = tokio::time::interval(CHECK_EVERY);
            loop {
                tokio::select! {
                    r = &mut fut => return Ok(r),
                    _ = tick.tick() => control.check()?,
                }
            }
        })?;
        match result {
            Ok((status, headers, body)) => {
                if (200..300).contains(&status) {
                    Ok(Attempt::Done(ApiResponse {
                        status,
                        headers,
                        body,
                    }))
                } else {
                    Ok(Attempt::Api(
                        ApiError::parse(status, &headers, &body),
                        headers,
                    ))
                }
            }
            Err(e) => {
                // reqwest's message names the URL (which holds no secret) but never headers.
                let kind = if e.is_timeout() {
                    "request timed out"
                } else if e.is_connect() {
                    "cannot connect"
                } else {
                    "network error"
                };
                Ok(Attempt::Network(format!(
                    "{kind}: {}",
                    crate::error::error_chain(&e)
                )))
            }
        }
    }
}

enum Attempt {
    Done(ApiResponse),
    Api(ApiError, HeaderMap),
    Network(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid4_matches_contabo_regex_shape() {
        for _ in 0..100 {
            let u = uuid4();
            let parts: Vec<&str> = u.split('-').collect();
            assert_eq!(
                parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(parts[2].starts_with('4'));
            assert!("89ab".contains(&parts[3][..1]));
        }
    }

    #[test]
    fn error_bodies_of_all_three_shapes() {
        let h = HeaderMap::new();
        let e = ApiError::parse(423, &h, r#"{"error":{"code":"locked","message":"busy"}}"#);
        assert_eq!(
            (e.code.as_deref(), e.message.as_deref()),
            (Some("locked"), Some("busy"))
        );
        assert!(!e.retryable());
        let e = ApiError::parse(402, &h, r#"{"statusCode":402,"message":"Total snapshots"}"#);
        assert_eq!(e.describe(), "HTTP 402: Total snapshots");
        let e = ApiError::parse(
            401,
            &h,
            r#"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#,
        );
        assert_eq!(
            e.describe(),
            "HTTP 401 invalid_grant: Invalid user credentials"
        );
        let e = ApiError::parse(409, &h, r#"{"error":{"code":"conflict","message":"x"}}"#);
        assert!(e.retryable());
        let e = ApiError::parse(502, &h, "<html>bad gateway</html>");
        assert!(e.retryable());
    }

    #[test]
    fn supabase_error_bodies_keep_event_id_and_missing_permissions() {
        let h = HeaderMap::new();
        let e = ApiError::parse(
            406,
            &h,
            r#"{"message":"Failed to retrieve SQL snippet","errorEventId":"49f4"}"#,
        );
        assert_eq!(
            e.describe(),
            "HTTP 406: Failed to retrieve SQL snippet (error event id 49f4)"
        );
        let e = ApiError::parse(
            403,
            &h,
            r#"{"message":"Forbidden resource","missing_permissions":["backups_read"]}"#,
        );
        assert_eq!(e.missing_permissions, ["backups_read"]);
        assert_eq!(
            e.describe(),
            "HTTP 403: Forbidden resource (missing permissions: backups_read)"
        );
        assert_eq!(e.attempts, 1);
    }

    #[test]
    fn reset_header_is_read_per_provider() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "0".parse().unwrap());
        h.insert("x-ratelimit-reset", "7".parse().unwrap());
        assert_eq!(
            requested_wait(&h, RateLimitHeaders::SUPABASE),
            Some(Duration::from_secs(7))
        );
        assert_eq!(requested_wait(&h, RateLimitHeaders::HETZNER), None);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut h = HeaderMap::new();
        h.insert("ratelimit-remaining", "0".parse().unwrap());
        h.insert("ratelimit-reset", (now + 5).to_string().parse().unwrap());
        let w = requested_wait(&h, RateLimitHeaders::HETZNER).unwrap();
        assert!(
            w <= Duration::from_secs(5) && w >= Duration::from_secs(3),
            "{w:?}"
        );
        // Requests left in the window: no wait is asked for.
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", "3".parse().unwrap());
        h.insert("x-ratelimit-reset", "60".parse().unwrap());
        assert_eq!(requested_wait(&h, RateLimitHeaders::SUPABASE), None);
    }

    #[test]
    fn backoff_is_capped_full_jitter() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(10),
            cap: Duration::from_millis(25),
            request_timeout: Duration::from_secs(1),
        };
        for a in 0..10 {
            assert!(p.backoff(a) <= Duration::from_millis(25));
        }
    }

    #[test]
    fn form_encoding_escapes() {
        assert_eq!(
            form_encode(&[("a", "x y&z"), ("b", "=")]),
            "a=x+y%26z&b=%3D"
        );
    }
}
