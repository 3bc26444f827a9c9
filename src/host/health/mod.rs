//! Health checks and waiting: [`http_check`], [`tcp_check`] and [`wait_until`].
//!
//! A check that does not pass is **not** an error: it returns a [`CheckResult`] with `ok: false`
//! and a precise `detail` ("HTTP 503 from http://host/health (expected 200)", "connection
//! refused", "timed out after 2s", ...), so a runbook can branch on it. `Err` is kept for misuse
//! (a bad URL, a bad JSON path, a bad header) and for the run having to stop (Ctrl-C, the step
//! deadline): [`Control::check`] is consulted before every attempt, while a request is in
//! flight, and every [`SLICE`] while sleeping between attempts.
//!
//! Every attempt is bounded by the check's `timeout`; after a failed attempt the check sleeps
//! `interval` and tries again, `retries` more times. Header values may carry credentials and
//! never appear in a `detail` or an error. The user name and password of a URL are dropped from
//! what is shown.

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::context::control::Control;
use crate::error::{Error, Result};
use crate::host::runtime::block_on;

mod json_path;

use json_path::{json_expectation, parse_json_path};

/// How often a sleeping or waiting primitive looks at [`Control::check`].
pub const SLICE: Duration = Duration::from_millis(50);

/// Default time allowed for one attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default pause between attempts.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// At most this much of a response body is read for `contains` and JSON-path expectations.
pub const MAX_BODY: usize = 1 << 20;

/// The outcome of a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Whether the last attempt met every expectation.
    pub ok: bool,
    /// How long the last attempt took, in milliseconds.
    pub latency_ms: u64,
    /// How many attempts were made (1 + retries used).
    pub attempts: u32,
    /// What the last attempt found, e.g. `HTTP 200 from http://127.0.0.1:8080/health` or
    /// `connection refused`.
    pub detail: String,
    /// The HTTP status of the last attempt, when a response arrived (`None` for TCP checks).
    pub status: Option<u16>,
}

/// An HTTP `GET` health check and what it expects.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpCheck {
    /// The `http://` or `https://` URL to fetch.
    pub url: String,
    /// The status code that counts as healthy (default 200).
    pub expect_status: u16,
    /// Text the body must contain.
    pub contains: Option<String>,
    /// A JSON path into the body (`status`, `data.0.healthy`, `$.checks.db`, `$.items[0].ok`)
    /// and the value expected there. Without a value, the path must exist and be truthy: not
    /// `null`, `false`, `0`, `""`, `[]` or `{}`.
    pub json_path: Option<(String, Option<Value>)>,
    /// Time allowed for one attempt: connecting, the response and reading the body (default
    /// 10 s).
    pub timeout: Duration,
    /// Extra attempts after a failed one (default 0).
    pub retries: u32,
    /// Pause between attempts (default 2 s).
    pub interval: Duration,
    /// Request headers. Values are never shown.
    pub headers: Vec<(String, String)>,
}

impl HttpCheck {
    /// A check of `url` with the defaults: expect 200, 10 s timeout, no retries, 2 s interval.
    pub fn new(url: impl Into<String>) -> Self {
        HttpCheck {
            url: url.into(),
            expect_status: 200,
            contains: None,
            json_path: None,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            interval: DEFAULT_INTERVAL,
            headers: Vec::new(),
        }
    }
}

/// A TCP connect check: does `host:port` accept connections?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheck {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Time allowed for one attempt, name resolution included (default 10 s).
    pub timeout: Duration,
    /// Extra attempts after a failed one (default 0).
    pub retries: u32,
    /// Pause between attempts (default 2 s).
    pub interval: Duration,
}

impl TcpCheck {
    /// A check of `host:port` with the defaults: 10 s timeout, no retries, 2 s interval.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        TcpCheck {
            host: host.into(),
            port,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            interval: DEFAULT_INTERVAL,
        }
    }
}

/// The outcome of [`wait_until`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitResult {
    /// Whether the probe said yes before the timeout.
    pub ok: bool,
    /// How many times the probe ran.
    pub attempts: u32,
    /// How long the wait took, in milliseconds.
    pub elapsed_ms: u64,
}

/// Runs `future` while watching `control`: fails as soon as the run must stop.
pub(crate) async fn until_stopped<F: Future>(future: F, control: &Control) -> Result<F::Output> {
    let mut future = std::pin::pin!(future);
    loop {
        control.check()?;
        tokio::select! {
            out = &mut future => return Ok(out),
            _ = tokio::time::sleep(SLICE) => {}
        }
    }
}

/// Runs `future` on the shared runtime for at most `limit` (`None` when it took longer),
/// failing as soon as the run must stop.
pub(crate) fn within<F: Future>(
    limit: Duration,
    future: F,
    control: &Control,
) -> Result<Option<F::Output>> {
    // The timer must be created inside the runtime, hence the async block.
    block_on(async { until_stopped(tokio::time::timeout(limit, future), control).await })
        .map(|r| r.ok())
}

pub(crate) use crate::host::runtime::sleep_checked;

/// `d` for people: `2s`, `500ms`, `1m 30s`.
pub(crate) fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one attempt found.
pub(crate) struct Attempt {
    pub(crate) ok: bool,
    pub(crate) detail: String,
    pub(crate) status: Option<u16>,
}

impl Attempt {
    pub(crate) fn fail(detail: impl Into<String>) -> Self {
        Attempt {
            ok: false,
            detail: detail.into(),
            status: None,
        }
    }
}

/// Runs `attempt` up to `1 + retries` times, `interval` apart, until one passes.
pub(crate) fn with_retries(
    what: &str,
    retries: u32,
    interval: Duration,
    control: &Control,
    mut attempt: impl FnMut() -> Result<Attempt>,
) -> Result<CheckResult> {
    let mut attempts = 0;
    loop {
        control.check()?;
        attempts += 1;
        let started = Instant::now();
        let found = attempt()?;
        let latency_ms = millis(started.elapsed());
        if found.ok || attempts > retries {
            return Ok(CheckResult {
                ok: found.ok,
                latency_ms,
                attempts,
                detail: found.detail,
                status: found.status,
            });
        }
        control.note(&format!(
            "{what}: attempt {attempts} of {}: {}; trying again in {}",
            retries + 1,
            found.detail,
            show(interval)
        ));
        sleep_checked(interval, control)?;
    }
}

/// `url` without user name and password, for messages.
fn shown_url(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    url.to_string()
}

/// The most specific description of a failed connection or request, without the URL.
pub(crate) fn network_detail(err: &(dyn std::error::Error + 'static)) -> String {
    let mut innermost = err.to_string();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            match io.kind() {
                K::ConnectionRefused => return "connection refused".into(),
                K::ConnectionReset => return "connection reset".into(),
                K::ConnectionAborted => return "connection aborted".into(),
                K::UnexpectedEof => return "connection closed before a response".into(),
                _ => {}
            }
        }
        innermost = e.to_string();
        source = e.source();
    }
    if innermost.contains("dns error") || innermost.contains("failed to lookup address") {
        return format!("cannot resolve the host name ({innermost})");
    }
    innermost
}

fn reqwest_detail(err: &reqwest::Error) -> String {
    // The outermost reqwest message names the URL; describe the cause instead.
    match std::error::Error::source(err) {
        Some(source) => network_detail(source),
        None if err.is_connect() => "cannot connect".into(),
        None => "request failed".into(),
    }
}

/// Builds the header map, rejecting bad names and values without showing the values.
fn header_map(headers: &[(String, String)]) -> Result<reqwest::header::HeaderMap> {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        let header_name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::usage(format!("header name `{name}` is not valid")))?;
        let mut header_value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            Error::usage(format!(
                "the value of header `{name}` is not valid (it must be visible ASCII, no line breaks)"
            ))
        })?;
        header_value.set_sensitive(true);
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// Parses and checks an `http(s)://` URL.
pub(crate) fn parse_http_url(url: &str) -> Option<reqwest::Url> {
    let parsed = reqwest::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return None;
    }
    Some(parsed)
}

/// A client that keeps no idle connections, so every attempt sees the service as it is now.
pub(crate) fn client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| Error::failed(format!("cannot start the HTTP client: {e}")))
}

/// Reads at most [`MAX_BODY`] bytes of the body.
async fn read_body(response: &mut reqwest::Response) -> reqwest::Result<String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// Fetches `check.url` with `GET` until it meets every expectation or the retries run out.
///
/// Expectations are checked in order — status, then `contains`, then the JSON path — and the
/// first unmet one becomes the `detail`:
///
/// - `HTTP 503 from http://127.0.0.1:8080/health (expected 200)`
/// - `body does not contain "ok"`
/// - `body is not JSON (...)`, `JSON path data.status not found`,
///   `JSON path data.status is "degraded", expected "ok"`,
///   `JSON path checks.db is false, expected a truthy value`
/// - `timed out after 2s`, `connection refused`, `cannot resolve the host name (...)`
///
/// On success the detail is `HTTP 200 from <url>`. `Err` means misuse (not an `http(s)://` URL,
/// a bad JSON path, a bad header) or that the run must stop.
pub fn http_check(check: &HttpCheck, control: &Control) -> Result<CheckResult> {
    let url = parse_http_url(&check.url).ok_or_else(|| {
        Error::usage(format!(
            "http_check: `{}` is not an http:// or https:// URL",
            check.url
        ))
        .with_hint("write the full URL, e.g. http://127.0.0.1:8080/health")
    })?;
    let shown = shown_url(&url);
    let json = match &check.json_path {
        Some((path, expected)) => Some((path.as_str(), parse_json_path(path)?, expected.as_ref())),
        None => None,
    };
    let headers = header_map(&check.headers)?;
    let client = client()?;
    let what = format!("health check of {shown}");
    with_retries(&what, check.retries, check.interval, control, || {
        let request = client.get(url.clone()).headers(headers.clone());
        let attempt = async {
            let mut response = match request.send().await {
                Ok(r) => r,
                Err(e) => return Attempt::fail(reqwest_detail(&e)),
            };
            let status = response.status().as_u16();
            let needs_body = check.contains.is_some() || json.is_some();
            let body = if needs_body && status == check.expect_status {
                match read_body(&mut response).await {
                    Ok(b) => b,
                    Err(e) => {
                        return Attempt {
                            ok: false,
                            detail: format!("reading the body failed: {}", reqwest_detail(&e)),
                            status: Some(status),
                        }
                    }
                }
            } else {
                String::new()
            };
            let failed = |detail: String| Attempt {
                ok: false,
                detail,
                status: Some(status),
            };
            if status != check.expect_status {
                return failed(format!(
                    "HTTP {status} from {shown} (expected {})",
                    check.expect_status
                ));
            }
            if let Some(needle) = &check.contains {
                if !body.contains(needle.as_str()) {
                    return failed(format!("body does not contain {needle:?}"));
                }
            }
            if let Some((path, segments, expected)) = &json {
                if let Some(detail) = json_expectation(&body, path, segments, *expected) {
                    return failed(detail);
                }
            }
            Attempt {
                ok: true,
                detail: format!("HTTP {status} from {shown}"),
                status: Some(status),
            }
        };
        Ok(within(check.timeout, attempt, control)?
            .unwrap_or_else(|| Attempt::fail(format!("timed out after {}", show(check.timeout)))))
    })
}

/// Connects to `check.host:check.port` until a connection is accepted or the retries run out.
///
/// The detail is `connected to <host>:<port>` on success, else `connection refused`,
/// `timed out after 2s`, `cannot resolve <host>` or the system's reason. Every address the name
/// resolves to is tried in turn within the attempt's timeout. `Err` means an empty host name or
/// that the run must stop.
pub fn tcp_check(check: &TcpCheck, control: &Control) -> Result<CheckResult> {
    let host = check.host.trim();
    if host.is_empty() {
        return Err(Error::usage("tcp_check: the host name is empty"));
    }
    // `[::1]` is accepted as well as `::1`.
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let target = if host.contains(':') {
        format!("[{host}]:{}", check.port)
    } else {
        format!("{host}:{}", check.port)
    };
    let what = format!("TCP check of {target}");
    with_retries(&what, check.retries, check.interval, control, || {
        let attempt = async {
            let addrs: Vec<SocketAddr> = match tokio::net::lookup_host((host, check.port)).await {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Attempt::fail(format!("cannot resolve {host} ({e})")),
            };
            if addrs.is_empty() {
                return Attempt::fail(format!("cannot resolve {host} (no addresses)"));
            }
            let mut last = String::new();
            for addr in addrs {
                match tokio::net::TcpStream::connect(addr).await {
                    Ok(_) => {
                        return Attempt {
                            ok: true,
                            detail: format!("connected to {target}"),
                            status: None,
                        }
                    }
                    Err(e) => last = network_detail(&e),
                }
            }
            Attempt::fail(last)
        };
        Ok(within(check.timeout, attempt, control)?
            .unwrap_or_else(|| Attempt::fail(format!("timed out after {}", show(check.timeout)))))
    })
}

/// Runs `probe` every `interval` until it returns `true` or `timeout` has passed.
///
/// The probe runs at once, then after each interval; one last time when the timeout is reached,
/// so a wait of `timeout` never gives up before the state at `timeout` has been seen. Not
/// becoming ready is `ok: false`, not an error; an `Err` from the probe, Ctrl-C or the step
/// deadline ends the wait with that error. `label` names what is awaited in progress notes.
/// An `interval` below 10 ms counts as 10 ms, so a zero interval cannot spin.
pub fn wait_until(
    mut probe: impl FnMut() -> Result<bool>,
    timeout: Duration,
    interval: Duration,
    control: &Control,
    label: &str,
) -> Result<WaitResult> {
    let interval = interval.max(Duration::from_millis(10));
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        control.check()?;
        attempts += 1;
        if probe()? {
            return Ok(WaitResult {
                ok: true,
                attempts,
                elapsed_ms: millis(started.elapsed()),
            });
        }
        let elapsed = started.elapsed();
        if elapsed >= timeout {
            return Ok(WaitResult {
                ok: false,
                attempts,
                elapsed_ms: millis(elapsed),
            });
        }
        if attempts == 1 {
            control.note(&format!(
                "waiting for {label} (up to {}, checking every {})",
                show(timeout),
                show(interval)
            ));
        }
        sleep_checked(interval.min(timeout - elapsed), control)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_urls_hide_credentials() {
        let url = reqwest::Url::parse("https://user:pw@example.com/health?x=1").unwrap();
        assert_eq!(shown_url(&url), "https://example.com/health?x=1");
        assert!(parse_http_url("ftp://example.com").is_none());
        assert!(parse_http_url("localhost:8080").is_none());
        assert!(parse_http_url("http://127.0.0.1:8080/health").is_some());
    }

    #[test]
    fn health_bad_headers_do_not_show_values() {
        let err = header_map(&[("Authorization".into(), "Bearer sekrit\nx".into())]).unwrap_err();
        assert!(!err.to_string().contains("sekrit"), "{err}");
        assert!(header_map(&[("bad name".into(), "v".into())]).is_err());
    }

    #[test]
    fn health_misuse_is_an_error() {
        let control = Control::detached();
        let err = http_check(&HttpCheck::new("not a url"), &control).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
        let mut check = HttpCheck::new("http://127.0.0.1:9/");
        check.json_path = Some(("a..b".into(), None));
        assert!(http_check(&check, &control).is_err());
        assert!(tcp_check(&TcpCheck::new(" ", 80), &control).is_err());
    }
}
