//! Health checks, waiting and notifications against a local HTTP double (127.0.0.1 only).

#[path = "support/http_double.rs"]
mod http_double;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_double::{HttpDouble, Reply};
use runbook::context::control::Control;
use runbook::context::output::{OutputMode, Reporter};
use runbook::context::secrets::{Redactor, Secret};
use runbook::error::ErrorKind;
use runbook::host::health::{http_check, tcp_check, wait_until, CheckResult, HttpCheck, TcpCheck};
use runbook::host::notify::{
    payload, payload_at, send, send_json, status_page_payload, Flavour, Notification, RetryPolicy,
    Severity,
};
use serde_json::json;

fn reporter() -> Reporter {
    Reporter::new(OutputMode::Plain, Redactor::default())
}

/// A control whose interrupt flag is returned, to press "Ctrl-C" from a test.
fn control_with_flag(set: bool) -> (Control, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(set));
    (Control::new(flag.clone(), None, reporter()), flag)
}

fn quick(url: String) -> HttpCheck {
    let mut check = HttpCheck::new(url);
    check.timeout = Duration::from_secs(5);
    check.interval = Duration::from_millis(20);
    check
}

fn run(check: &HttpCheck) -> CheckResult {
    http_check(check, &Control::detached()).expect("the check runs")
}

/// A port on 127.0.0.1 that was bound and closed again, so nothing listens on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------- http_check

#[test]
fn http_status_passes_and_sends_headers_without_showing_them() {
    let double = HttpDouble::start(Reply::new(200, "ok"));
    let mut check = quick(double.url("/health"));
    check
        .headers
        .push(("Authorization".into(), "Bearer hunter2-token".into()));
    let result = run(&check);
    assert!(result.ok, "{result:?}");
    assert_eq!(result.status, Some(200));
    assert_eq!(result.attempts, 1);
    assert_eq!(
        result.detail,
        format!("HTTP 200 from {}", double.url("/health"))
    );
    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/health");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer hunter2-token")
    );
    assert!(requests[0]
        .header("user-agent")
        .unwrap()
        .starts_with("runbook/"));
}

#[test]
fn http_wrong_status_fails_with_exact_detail() {
    let double = HttpDouble::start(Reply::new(503, "down"));
    let mut check = quick(double.url("/health"));
    check
        .headers
        .push(("X-Api-Key".into(), "hunter2-token".into()));
    let result = run(&check);
    assert!(!result.ok);
    assert_eq!(result.status, Some(503));
    assert_eq!(
        result.detail,
        format!("HTTP 503 from {} (expected 200)", double.url("/health"))
    );
    assert!(!result.detail.contains("hunter2"));
}

#[test]
fn http_expected_status_other_than_200() {
    let double = HttpDouble::start(Reply::new(204, ""));
    let mut check = quick(double.url("/ready"));
    check.expect_status = 204;
    assert!(run(&check).ok);
    check.expect_status = 200;
    let result = run(&check);
    assert_eq!(
        result.detail,
        format!("HTTP 204 from {} (expected 200)", double.url("/ready"))
    );
}

#[test]
fn http_body_contains() {
    let double = HttpDouble::start(Reply::new(200, "all good"));
    let mut check = quick(double.url("/health"));
    check.contains = Some("good".into());
    assert!(run(&check).ok);
    check.contains = Some("ok".into());
    let result = run(&check);
    assert!(!result.ok);
    assert_eq!(result.status, Some(200));
    assert_eq!(result.detail, "body does not contain \"ok\"");
}

#[test]
fn http_json_path_expectations() {
    let body = r#"{"data":{"status":"degraded","nodes":[{"healthy":true}]},"checks":{"db":true,"cache":false}}"#;
    let double = HttpDouble::start(Reply::new(200, body));
    let with = |path: &str, expected: Option<serde_json::Value>| {
        let mut check = quick(double.url("/health"));
        check.json_path = Some((path.into(), expected));
        run(&check)
    };
    assert!(with("data.status", Some(json!("degraded"))).ok);
    assert!(with("$.checks.db", None).ok);
    assert!(with("data.nodes.0.healthy", Some(json!(true))).ok);
    assert!(with("$.data.nodes[0].healthy", None).ok);

    assert_eq!(
        with("data.status", Some(json!("ok"))).detail,
        "JSON path data.status is \"degraded\", expected \"ok\""
    );
    assert_eq!(
        with("$.checks.cache", None).detail,
        "JSON path $.checks.cache is false, expected a truthy value"
    );
    assert_eq!(
        with("checks.queue", None).detail,
        "JSON path checks.queue not found"
    );

    let plain = HttpDouble::start(Reply::new(200, "ok"));
    let mut check = quick(plain.url("/health"));
    check.json_path = Some(("status".into(), None));
    let result = run(&check);
    assert!(!result.ok);
    assert!(
        result.detail.starts_with("body is not JSON ("),
        "{}",
        result.detail
    );
}

#[test]
fn http_bad_json_path_is_an_error_before_any_request() {
    let double = HttpDouble::start(Reply::new(200, "{}"));
    let mut check = quick(double.url("/health"));
    check.json_path = Some(("data..status".into(), None));
    let err = http_check(&check, &Control::detached()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(err.message().contains("data..status"), "{err}");
    assert!(double.requests().is_empty());
}

#[test]
fn http_bad_url_is_an_error() {
    let err = http_check(
        &HttpCheck::new("127.0.0.1:8080/health"),
        &Control::detached(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert!(err.hint().unwrap().contains("http://"), "{err}");
}

#[test]
fn http_slow_response_hits_the_timeout() {
    let double = HttpDouble::start(Reply::new(200, "ok").delay(Duration::from_secs(3)));
    let mut check = quick(double.url("/health"));
    check.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let result = run(&check);
    assert!(!result.ok);
    assert_eq!(result.detail, "timed out after 300ms");
    assert_eq!(result.status, None);
    assert!(result.latency_ms >= 300, "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn http_service_becomes_healthy_after_two_failures() {
    let double =
        HttpDouble::start(Reply::new(200, "ok")).fail_first(2, Reply::new(503, "starting"));
    let mut check = quick(double.url("/health"));
    check.retries = 5;
    let result = run(&check);
    assert!(result.ok, "{result:?}");
    assert_eq!(result.attempts, 3);
    assert_eq!(result.status, Some(200));
    assert_eq!(double.requests().len(), 3);
}

#[test]
fn http_retries_run_out() {
    let double = HttpDouble::start(Reply::new(503, "down"));
    let mut check = quick(double.url("/health"));
    check.retries = 2;
    let result = run(&check);
    assert!(!result.ok);
    assert_eq!(result.attempts, 3);
    assert_eq!(double.requests().len(), 3);
    assert_eq!(
        result.detail,
        format!("HTTP 503 from {} (expected 200)", double.url("/health"))
    );
}

#[test]
fn http_connection_refused() {
    let mut check = quick(format!("http://127.0.0.1:{}/health", closed_port()));
    check.retries = 1;
    let result = run(&check);
    assert!(!result.ok);
    assert_eq!(result.attempts, 2);
    assert_eq!(result.status, None);
    assert_eq!(result.detail, "connection refused");
}

// ----------------------------------------------------------------------------------- tcp_check

#[test]
fn tcp_open_port_connects() {
    let double = HttpDouble::start(Reply::new(200, ""));
    let result = tcp_check(
        &TcpCheck::new("127.0.0.1", double.port()),
        &Control::detached(),
    )
    .unwrap();
    assert!(result.ok, "{result:?}");
    assert_eq!(result.attempts, 1);
    assert_eq!(
        result.detail,
        format!("connected to 127.0.0.1:{}", double.port())
    );
    assert_eq!(result.status, None);
}

#[test]
fn tcp_port_that_never_opens() {
    let mut check = TcpCheck::new("127.0.0.1", closed_port());
    check.retries = 2;
    check.interval = Duration::from_millis(20);
    check.timeout = Duration::from_secs(2);
    let result = tcp_check(&check, &Control::detached()).unwrap();
    assert!(!result.ok);
    assert_eq!(result.attempts, 3);
    assert_eq!(result.detail, "connection refused");
}

// ---------------------------------------------------------------------------------- wait_until

#[test]
fn wait_until_succeeds_when_the_probe_does() {
    let mut calls = 0;
    let result = wait_until(
        || {
            calls += 1;
            Ok(calls >= 3)
        },
        Duration::from_secs(5),
        Duration::from_millis(20),
        &Control::detached(),
        "the counter",
    )
    .unwrap();
    assert!(result.ok);
    assert_eq!(result.attempts, 3);
    assert!(result.elapsed_ms >= 40, "{result:?}");
}

#[test]
fn wait_until_times_out_with_a_last_look_at_the_deadline() {
    let started = Instant::now();
    let result = wait_until(
        || Ok(false),
        Duration::from_millis(300),
        Duration::from_millis(100),
        &Control::detached(),
        "nothing",
    )
    .unwrap();
    assert!(!result.ok);
    assert!(result.elapsed_ms >= 300, "{result:?}");
    assert!(result.attempts >= 4, "{result:?}"); // 0, 100, 200, 300 ms
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn wait_until_passes_probe_errors_on() {
    let err = wait_until(
        || Err(runbook::error::Error::usage("bad probe")),
        Duration::from_secs(5),
        Duration::from_millis(20),
        &Control::detached(),
        "x",
    )
    .unwrap_err();
    assert_eq!(err.message(), "bad probe");
}

#[test]
fn wait_until_honours_the_step_deadline() {
    let control = Control::new(
        Arc::new(AtomicBool::new(false)),
        Some((
            Instant::now() + Duration::from_millis(200),
            Duration::from_millis(200),
            "Wait for API".into(),
        )),
        reporter(),
    );
    let started = Instant::now();
    let err = wait_until(
        || Ok(false),
        Duration::from_secs(30),
        Duration::from_secs(10),
        &control,
        "the API",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("Wait for API"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ----------------------------------------------------------------------------- Ctrl-C (Control)

#[test]
fn interrupted_control_stops_everything_before_it_starts() {
    let double = HttpDouble::start(Reply::new(200, "ok"));
    let (control, _flag) = control_with_flag(true);

    let err = http_check(&quick(double.url("/health")), &control).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    let err = tcp_check(&TcpCheck::new("127.0.0.1", double.port()), &control).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    let mut probed = false;
    let err = wait_until(
        || {
            probed = true;
            Ok(true)
        },
        Duration::from_secs(1),
        Duration::from_millis(10),
        &control,
        "x",
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(!probed);
    let url = Secret::new("HOOK", &double.url("/hook"));
    let n = Notification::new("t", "m", Severity::Info);
    let err = send(&url, Flavour::Generic, &n, &control).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(double.requests().is_empty());
}

#[test]
fn ctrl_c_during_a_slow_request_stops_it_promptly() {
    let double = HttpDouble::start(Reply::new(200, "ok").delay(Duration::from_secs(5)));
    let (control, flag) = control_with_flag(false);
    let presser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        flag.store(true, Ordering::SeqCst);
    });
    let mut check = quick(double.url("/health"));
    check.timeout = Duration::from_secs(30);
    let started = Instant::now();
    let err = http_check(&check, &control).unwrap_err();
    presser.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn ctrl_c_between_attempts_stops_the_retries() {
    let double = HttpDouble::start(Reply::new(503, "down"));
    let (control, flag) = control_with_flag(false);
    let presser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        flag.store(true, Ordering::SeqCst);
    });
    let mut check = quick(double.url("/health"));
    check.retries = 100;
    check.interval = Duration::from_secs(10);
    let started = Instant::now();
    let err = http_check(&check, &control).unwrap_err();
    presser.join().unwrap();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert_eq!(double.requests().len(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

// ------------------------------------------------------------------------------- notifications

const HOOK_PATH: &str = "/services/T000/B000/sekrit-token";

fn sample() -> Notification {
    Notification::new(
        "Restore failed",
        "Step \"Verify checksums\" failed: 2 files differ",
        Severity::Critical,
    )
    .field("runbook", "restore-full")
    .field("failed step", "Verify checksums")
    .field("run id", "20251113T020000Z-vps1")
    .field("contacts", "DevOps lead <ops@example.com>")
}

fn hook(double: &HttpDouble) -> Secret {
    Secret::new("ALERT_WEBHOOK_URL", &double.url(HOOK_PATH))
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        retries: 3,
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_secs(5),
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn slack_payload_is_posted_byte_exactly() {
    let double = HttpDouble::start(Reply::new(200, "ok"));
    send(
        &hook(&double),
        Flavour::Slack,
        &sample(),
        &Control::detached(),
    )
    .unwrap();
    let requests = double.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, HOOK_PATH);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.text(),
        concat!(
            r#"{"blocks":[{"text":{"emoji":true,"text":":rotating_light: Restore failed","type":"plain_text"},"type":"header"},"#,
            r#"{"text":{"text":"Step \"Verify checksums\" failed: 2 files differ","type":"mrkdwn"},"type":"section"},"#,
            r#"{"text":{"text":"*runbook*: restore-full\n*failed step*: Verify checksums\n*run id*: 20251113T020000Z-vps1\n*contacts*: DevOps lead &lt;ops@example.com&gt;","type":"mrkdwn"},"type":"section"}],"#,
            r#""text":":rotating_light: Restore failed: Step \"Verify checksums\" failed: 2 files differ"}"#
        )
    );
    assert_eq!(
        r.body,
        serde_json::to_vec(&payload(Flavour::Slack, &sample())).unwrap()
    );
}

#[test]
fn teams_payload_is_posted_byte_exactly() {
    let double = HttpDouble::start(Reply::new(200, "1"));
    let n = Notification::new(
        "Backup is old",
        "Newest backup is 26h old",
        Severity::Warning,
    )
    .field("runbook", "verify-rpo");
    send(&hook(&double), Flavour::Teams, &n, &Control::detached()).unwrap();
    assert_eq!(
        double.requests()[0].text(),
        concat!(
            r#"{"@context":"https://schema.org/extensions","@type":"MessageCard","#,
            r#""sections":[{"facts":[{"name":"Severity","value":"warning"},{"name":"runbook","value":"verify-rpo"}]}],"#,
            r#""summary":"Backup is old","text":"Newest backup is 26h old","themeColor":"FF8C00","title":"Backup is old"}"#
        )
    );
}

#[test]
fn generic_payload_is_posted_byte_exactly() {
    let double = HttpDouble::start(Reply::new(204, ""));
    let n = Notification::new("Backup done", "app-data: 12 MiB", Severity::Info)
        .field("set", "2025-11-13T020000Z-vps1")
        .field("runbook", "backup-app-data");
    send(&hook(&double), Flavour::Generic, &n, &Control::detached()).unwrap();
    let body = double.requests()[0].text();
    let sent: serde_json::Value = serde_json::from_str(&body).unwrap();
    let sent_at = chrono::DateTime::parse_from_rfc3339(sent["sent_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert!((chrono::Utc::now() - sent_at).num_seconds().abs() < 60);
    let at = sent["sent_at"].as_str().unwrap();
    assert_eq!(
        body,
        format!(
            r#"{{"fields":{{"runbook":"backup-app-data","set":"2025-11-13T020000Z-vps1"}},"message":"app-data: 12 MiB","sent_at":"{at}","severity":"info","title":"Backup done"}}"#
        )
    );
    assert_eq!(
        body.as_bytes(),
        serde_json::to_vec(&payload_at(Flavour::Generic, &n, sent_at)).unwrap()
    );
}

#[test]
fn status_page_update_is_posted() {
    let double = HttpDouble::start(Reply::new(202, ""));
    let body = status_page_payload(
        runbook::host::notify::IncidentAction::Open,
        "inc-42",
        "Database restore in progress",
        "ETA 45 minutes",
        Severity::Critical,
    );
    send_json(
        &hook(&double),
        "status page",
        &body,
        &fast(),
        &Control::detached(),
    )
    .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(&double.requests()[0].body).unwrap();
    assert_eq!(sent, body);
    assert_eq!(sent["action"], "open");
    assert_eq!(sent["incident"]["id"], "inc-42");
    assert_eq!(sent["incident"]["severity"], "critical");
}

#[test]
fn send_retries_after_500_and_honours_retry_after_on_429() {
    let double = HttpDouble::start(Reply::new(200, "ok"))
        .then(Reply::new(500, "oops"))
        .then(Reply::new(429, "slow down").header("Retry-After", "1"));
    let started = Instant::now();
    send(
        &hook(&double),
        Flavour::Slack,
        &sample(),
        &Control::detached(),
    )
    .unwrap();
    let requests = double.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.body == requests[0].body));
    // 1 s backoff after the 500, then the 1 s the 429 asked for (not the 2 s backoff).
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn send_retries_429_with_retry_after_zero_at_once() {
    let double = HttpDouble::start(Reply::new(200, "ok"))
        .fail_first(2, Reply::new(429, "").header("Retry-After", "0"));
    let started = Instant::now();
    send(
        &hook(&double),
        Flavour::Teams,
        &sample(),
        &Control::detached(),
    )
    .unwrap();
    assert_eq!(double.requests().len(), 3);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_receiver_that_always_fails_gives_an_error_without_the_url() {
    // The receiver even echoes the secret path back; it must not reach the message.
    let double = HttpDouble::start(Reply::new(500, &format!("no such hook: {HOOK_PATH}")));
    let url = hook(&double);
    let body = payload(Flavour::Slack, &sample());
    let err = send_json(&url, "Slack", &body, &fast(), &Control::detached()).unwrap_err();
    assert_eq!(double.requests().len(), 4, "1 attempt + 3 retries");
    assert_eq!(err.kind(), ErrorKind::Failed);
    let text = err.to_string();
    assert!(text.contains("the Slack webhook"), "{text}");
    assert!(text.contains("after 4 attempts"), "{text}");
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(text.contains("ALERT_WEBHOOK_URL"), "{text}");
    assert!(!text.contains(url.expose()), "{text}");
    assert!(!text.contains("sekrit"), "{text}");
    assert!(!text.contains(HOOK_PATH), "{text}");
}

#[test]
fn an_unreachable_receiver_gives_an_error_without_the_url() {
    let url = Secret::new(
        "ALERT_WEBHOOK_URL",
        &format!("http://127.0.0.1:{}{HOOK_PATH}", closed_port()),
    );
    let body = payload(Flavour::Teams, &sample());
    let err = send_json(&url, "Teams", &body, &fast(), &Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("the Teams webhook"), "{text}");
    assert!(text.contains("connection refused"), "{text}");
    assert!(!text.contains("sekrit"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
}

#[test]
fn a_rejected_payload_fails_at_once() {
    let double = HttpDouble::start(Reply::new(404, "no_service"));
    let err = send(
        &hook(&double),
        Flavour::Slack,
        &sample(),
        &Control::detached(),
    )
    .unwrap_err();
    assert_eq!(double.requests().len(), 1);
    assert_eq!(
        err.message(),
        "could not notify the Slack webhook: HTTP 404 Not Found: no_service"
    );
    assert!(err.hint().unwrap().contains("ALERT_WEBHOOK_URL"), "{err}");
}
