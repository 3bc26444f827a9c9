//! VPS snapshot primitives (issue 6) against local API doubles that follow
//! `shared/reference/vps-providers.md`, and against the real `qemu-img`.

#[path = "support/contabo_double.rs"]
mod contabo_double;
#[path = "support/hetzner_double.rs"]
mod hetzner_double;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use runbook::context::control::Control;
use runbook::context::output::{OutputMode, Reporter};
use runbook::context::secrets::{Redactor, Secret};
use runbook::error::ErrorKind;
use runbook::host::http::RetryPolicy;
use runbook::host::snapshot::contabo::ContaboClient;
use runbook::host::snapshot::hetzner::HetznerClient;
use runbook::host::snapshot::qemu::QemuImage;
use runbook::host::snapshot::{
    boot_verify, plan_prune, snapshot_and_prune, BootedCopy, Provider, Snapshot, SnapshotStatus,
};
use serde_json::json;

use contabo_double::{ContaboDouble, INSTANCE_ID};
use hetzner_double::{raw_request, HetznerDouble, SERVER_ID};

const TOKEN: &str = "hcloud-token-0123456789abcdef";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_retries: 4,
        base: Duration::from_millis(10),
        cap: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
    }
}

fn hetzner(d: &HetznerDouble, token: &str, server: &str) -> HetznerClient {
    HetznerClient::new(&d.url, Secret::new("HCLOUD_TOKEN", token), server)
        .unwrap()
        .with_poll_interval(Duration::from_millis(5))
        .with_retry(fast())
        .unwrap()
}

fn interruptible() -> (Control, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(false));
    let reporter = Reporter::new(OutputMode::Plain, Redactor::default());
    (Control::new(flag.clone(), None, reporter), flag)
}

// ---------------------------------------------------------------------------------------------
// Hetzner

#[test]
fn hetzner_auth_failure_names_code_and_hides_token() {
    let d = HetznerDouble::start(TOKEN);
    let wrong = "wrong-token-very-secret";
    let c = hetzner(&d, wrong, "42");
    let err = c.list_snapshots(&Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 401 unauthorized: unable to authenticate"),
        "{text}"
    );
    assert!(text.contains("correlation id corr-"), "{text}");
    assert!(err.hint().unwrap().contains("token"), "{text}");
    assert!(!text.contains(wrong), "{text}");
    assert_eq!(d.count("GET", "/servers"), 1, "401 is not retried");
}

#[test]
fn hetzner_requests_carry_auth_accept_content_type_and_user_agent() {
    let d = HetznerDouble::start(TOKEN);
    let c = hetzner(&d, TOKEN, "web-1");
    c.create_snapshot("weekly", &Control::detached()).unwrap();
    let st = d.state.lock().unwrap();
    assert_eq!(st.log[0].0.path, "/servers");
    assert_eq!(
        st.log[0].0.q("name"),
        Some("web-1"),
        "a name is resolved via ?name="
    );
    for (r, _) in &st.log {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(r.header("accept"), Some("application/json"));
        assert!(r.header("user-agent").unwrap().starts_with("runbook/"));
        if r.method == "POST" {
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
    }
    let post = st.log.iter().find(|(r, _)| r.method == "POST").unwrap();
    assert_eq!(post.0.path, "/servers/42/actions/create_image");
    assert_eq!(
        post.0.json().unwrap(),
        json!({"type": "snapshot", "description": "weekly",
               "labels": {"managed-by": "runbook", "runbook-server": "42"}})
    );
}

#[test]
fn hetzner_lists_across_pages_with_filters_and_marks_ours() {
    let d = HetznerDouble::start(TOKEN);
    d.state.lock().unwrap().max_per_page = 2;
    let ours: Vec<i64> = (1..=5)
        .map(|i| d.add_image(i, "available", HetznerDouble::our_labels()))
        .collect();
    d.add_image(3, "available", json!({}));
    d.add_image(
        4,
        "available",
        json!({"managed-by": "runbook", "runbook-server": "7"}),
    );
    let c = hetzner(&d, TOKEN, "42");
    let list = c.list_snapshots(&Control::detached()).unwrap();
    let ids: Vec<String> = list.iter().map(|s| s.id.clone()).collect();
    let want: Vec<String> = ours.iter().map(|i| i.to_string()).collect();
    assert_eq!(ids, want, "newest first, only ours");
    assert!(list
        .iter()
        .all(|s| s.ours && s.status == SnapshotStatus::Available));
    let st = d.state.lock().unwrap();
    let pages: Vec<(String, String, String, String, String)> = st
        .log
        .iter()
        .filter(|(r, _)| r.path == "/images")
        .map(|(r, _)| {
            let q = |k| r.q(k).unwrap_or("").to_string();
            (
                q("page"),
                q("type"),
                q("label_selector"),
                q("sort"),
                q("per_page"),
            )
        })
        .collect();
    assert_eq!(
        pages.len(),
        3,
        "5 images at 2 per page: pages 1, 2, 3 (next_page null on 3)"
    );
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(p.0, (i + 1).to_string());
        assert_eq!(p.1, "snapshot");
        assert_eq!(p.2, "managed-by=runbook,runbook-server=42");
        assert_eq!(p.3, "created:desc");
        assert_eq!(p.4, "50");
    }
}

#[test]
fn hetzner_create_polls_action_progress_until_available() {
    let d = HetznerDouble::start(TOKEN);
    d.state.lock().unwrap().action_polls = 4;
    let c = hetzner(&d, TOKEN, "42");
    let snap = c
        .create_snapshot("before upgrade", &Control::detached())
        .unwrap();
    assert_eq!(snap.status, SnapshotStatus::Available);
    assert!(snap.ours);
    assert_eq!(snap.name, "before upgrade");
    assert_eq!(snap.size_gb, Some(1.5));
    assert_eq!(d.count("GET", "/actions/"), 4);
    let st = d.state.lock().unwrap();
    let action = st
        .actions
        .values()
        .find(|a| a.action["command"] == "create_image")
        .unwrap();
    assert_eq!(action.action["status"], "success");
    assert_eq!(action.action["progress"], 100);
}

#[test]
fn hetzner_failed_action_reports_code_and_prunes_nothing() {
    let d = HetznerDouble::start(TOKEN);
    for i in 1..=6 {
        d.add_image(i, "available", HetznerDouble::our_labels());
    }
    d.state.lock().unwrap().fail_next_action = Some((
        "action_failed".into(),
        "image creation failed: disk busy".into(),
    ));
    let c = hetzner(&d, TOKEN, "42");
    let err = snapshot_and_prune(&c, "weekly", 4, &Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("action_failed: image creation failed: disk busy"),
        "{text}"
    );
    assert_eq!(
        d.count("DELETE", "/images/"),
        0,
        "a failed create prunes nothing"
    );
    assert_eq!(d.state.lock().unwrap().images.len(), 7);
}

#[test]
fn hetzner_locked_server_is_not_retried_and_says_so() {
    let d = HetznerDouble::start(TOKEN);
    d.lock_server(SERVER_ID);
    let c = hetzner(&d, TOKEN, "42");
    let err = c
        .create_snapshot("weekly", &Control::detached())
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 423 locked"), "{text}");
    assert!(
        text.contains("server is locked by another action; wait for it to finish"),
        "{text}"
    );
    assert_eq!(d.count("POST", "/servers/42/actions/create_image"), 1);
}

#[test]
fn hetzner_429_waits_for_ratelimit_reset_then_succeeds() {
    let d = HetznerDouble::start(TOKEN);
    d.state.lock().unwrap().max_per_page = 1;
    for i in 1..=3 {
        d.add_image(i, "available", HetznerDouble::our_labels());
    }
    // Two requests in the bucket, one more per second: server lookup + page 1 drain it.
    d.rate_limit(2.0, 1.0);
    let c = hetzner(&d, TOKEN, "42");
    let started = Instant::now();
    let list = c.list_snapshots(&Control::detached()).unwrap();
    assert_eq!(list.len(), 3);
    let statuses = d.statuses();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), 200);
    let st = d.state.lock().unwrap();
    let (r429, _) = st.log.iter().find(|(_, s)| *s == 429).unwrap();
    assert_eq!(r429.path, "/images");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the client waited for the refill"
    );
}

#[test]
fn hetzner_retries_502_503_and_conflict_but_gives_up_eventually() {
    let d = HetznerDouble::start(TOKEN);
    d.add_image(1, "available", HetznerDouble::our_labels());
    {
        let mut st = d.state.lock().unwrap();
        st.inject.push_back((502, "bad_gateway".into()));
        st.inject.push_back((503, "unavailable".into()));
        st.inject.push_back((409, "conflict".into()));
    }
    let c = hetzner(&d, TOKEN, "42");
    assert_eq!(c.list_snapshots(&Control::detached()).unwrap().len(), 1);
    assert_eq!(d.statuses(), [502, 503, 409, 200, 200]);

    let d = HetznerDouble::start(TOKEN);
    for _ in 0..10 {
        d.state
            .lock()
            .unwrap()
            .inject
            .push_back((503, "unavailable".into()));
    }
    let c = hetzner(&d, TOKEN, "42");
    let err = c.list_snapshots(&Control::detached()).unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 503 unavailable: injected unavailable"),
        "{err}"
    );
    assert_eq!(d.statuses().len(), 5, "1 attempt + 4 retries");
}

#[test]
fn hetzner_interrupt_stops_retrying() {
    let d = HetznerDouble::start(TOKEN);
    for _ in 0..10 {
        d.state
            .lock()
            .unwrap()
            .inject
            .push_back((503, "unavailable".into()));
    }
    let c = HetznerClient::new(&d.url, Secret::new("T", TOKEN), "42")
        .unwrap()
        .with_retry(RetryPolicy {
            base: Duration::from_secs(2),
            ..fast()
        })
        .unwrap();
    let (control, flag) = interruptible();
    let f = flag.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        f.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    let err = c.list_snapshots(&control).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn hetzner_delete_204_and_404() {
    let d = HetznerDouble::start(TOKEN);
    let id = d.add_image(1, "available", HetznerDouble::our_labels());
    let c = hetzner(&d, TOKEN, "42");
    c.delete_snapshot(&id.to_string(), &Control::detached())
        .unwrap();
    assert!(d.state.lock().unwrap().images.is_empty());
    let err = c
        .delete_snapshot(&id.to_string(), &Control::detached())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 404 not_found: image not found"),
        "{err}"
    );
    let err = c.delete_snapshot("abc", &Control::detached()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
}

#[test]
fn hetzner_restore_rebuilds_with_integer_image_and_waits() {
    let d = HetznerDouble::start(TOKEN);
    let id = d.add_image(1, "available", HetznerDouble::our_labels());
    let c = hetzner(&d, TOKEN, "42");
    c.restore_snapshot(&id.to_string(), &Control::detached())
        .unwrap();
    let st = d.state.lock().unwrap();
    assert_eq!(st.rebuilds, [json!(id)]);
    let a = st
        .actions
        .values()
        .find(|a| a.action["command"] == "rebuild_server")
        .unwrap();
    assert_eq!(a.action["status"], "success");
}

#[test]
fn hetzner_double_follows_the_reference() {
    let d = HetznerDouble::start(TOKEN);
    let id = d.add_image(1, "available", HetznerDouble::our_labels());
    let auth = format!("Bearer {TOKEN}");
    let h = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    // No token: 401 with the error body.
    let (s, b) = raw_request(&d.url, "GET", "/images", &[], "");
    assert_eq!(s, 401);
    assert!(b.contains(r#""code":"unauthorized""#), "{b}");
    // `image` as a string is accepted too (IDOrName).
    let body = format!(r#"{{"image":"{id}"}}"#);
    let (s, b) = raw_request(&d.url, "POST", "/servers/42/actions/rebuild", &h, &body);
    assert_eq!(s, 201, "{b}");
    // While that action runs, the server is locked.
    let (s, b) = raw_request(
        &d.url,
        "POST",
        "/servers/42/actions/create_image",
        &h,
        r#"{"type":null,"description":null}"#,
    );
    assert_eq!(s, 423, "{b}");
    assert!(b.contains(r#""code":"locked""#));
    // datacenter is gone from the API.
    let (s, _) = raw_request(
        &d.url,
        "POST",
        "/servers",
        &h,
        &format!(r#"{{"name":"x","server_type":"cx22","image":{id},"datacenter":"fsn1-dc14"}}"#),
    );
    assert_eq!(s, 422);
}

#[test]
fn retention_six_ours_two_foreign_keep_four_deletes_our_two_oldest() {
    let t = |d| Utc.with_ymd_and_hms(2026, 11, d, 3, 0, 0).unwrap();
    let mk = |id: &str, day, ours, status| Snapshot {
        id: id.into(),
        name: id.into(),
        created: t(day),
        status,
        ours,
        size_gb: None,
    };
    let mut v = vec![mk("foreign-old", 1, false, SnapshotStatus::Available)];
    for day in 2..=7 {
        v.push(mk(
            &format!("ours-{day}"),
            day,
            true,
            SnapshotStatus::Available,
        ));
    }
    v.push(mk("foreign-new", 8, false, SnapshotStatus::Available));
    v.push(mk("ours-creating", 9, true, SnapshotStatus::Creating));
    let ids: Vec<String> = plan_prune(&v, 4).into_iter().map(|s| s.id).collect();
    assert_eq!(ids, ["ours-2", "ours-3"]);
}

#[test]
fn retention_through_contabo_list_never_touches_foreign() {
    let d = ContaboDouble::start("cid", "csecret-xyz", "ops@example.com", "api-pass-xyz");
    d.state.lock().unwrap().limit = 10;
    d.add_snapshot("manual before migration", 200);
    for h in 1..=6 {
        d.add_snapshot(&format!("rb-2026-11-0{h}-0300"), 100 - h * 10);
    }
    d.add_snapshot("hand made", 1);
    let c = contabo(&d, "api-pass-xyz");
    let list = c.list_snapshots(&Control::detached()).unwrap();
    assert_eq!(list.len(), 8);
    let doomed: Vec<String> = plan_prune(&list, 4).into_iter().map(|s| s.name).collect();
    assert_eq!(doomed, ["rb-2026-11-01-0300", "rb-2026-11-02-0300"]);
}

#[test]
fn hetzner_snapshot_and_prune_keeps_four_of_ours() {
    let d = HetznerDouble::start(TOKEN);
    let old: Vec<i64> = (1..=6)
        .rev()
        .map(|i| d.add_image(i, "available", HetznerDouble::our_labels()))
        .collect();
    let creating = d.add_image(0, "creating", HetznerDouble::our_labels());
    let foreign = d.add_image(30, "available", json!({}));
    let c = hetzner(&d, TOKEN, "42");
    let run = snapshot_and_prune(&c, "weekly", 4, &Control::detached()).unwrap();
    let pruned: Vec<String> = run.pruned.iter().map(|s| s.id.clone()).collect();
    // 7 available of ours now; the 3 oldest go, oldest first.
    assert_eq!(
        pruned,
        old[..3].iter().map(|i| i.to_string()).collect::<Vec<_>>()
    );
    let st = d.state.lock().unwrap();
    assert!(st.images.contains_key(&foreign));
    assert!(st.images.contains_key(&creating));
    assert!(st.images.contains_key(&run.created.id.parse().unwrap()));
    assert_eq!(st.images.len(), 6);
    drop(st);
    assert_eq!(
        snapshot_and_prune(&c, "x", 0, &Control::detached())
            .unwrap_err()
            .kind(),
        ErrorKind::Usage
    );
}

// boot_verify ---------------------------------------------------------------------------------

fn boot_setup() -> (HetznerDouble, HetznerClient, String) {
    let d = HetznerDouble::start(TOKEN);
    let id = d.add_image(1, "available", HetznerDouble::our_labels());
    let c = hetzner(&d, TOKEN, "42");
    (d, c, id.to_string())
}

#[test]
fn boot_verify_passes_verdict_and_deletes_copy() {
    let (d, c, id) = boot_setup();
    let mut seen = None;
    let ok = boot_verify(
        &c,
        &id,
        |copy: &BootedCopy| {
            seen = Some(copy.clone());
            Ok(true)
        },
        &Control::detached(),
    )
    .unwrap();
    assert!(ok);
    let seen = seen.unwrap();
    assert!(seen.address.as_deref().unwrap().starts_with("192.0.2."));
    assert!(d.verify_servers().is_empty());
    let st = d.state.lock().unwrap();
    let body = &st.created_servers[0];
    assert_eq!(body["server_type"], "cx22");
    assert_eq!(body["location"], "fsn1");
    assert_eq!(body["image"], json!(id.parse::<i64>().unwrap()));
    assert!(body.get("datacenter").is_none());
    assert_eq!(
        body["labels"],
        json!({"managed-by": "runbook", "runbook-role": "boot-verify"})
    );
    assert!(body["name"]
        .as_str()
        .unwrap()
        .starts_with(&format!("runbook-verify-{id}-")));
}

#[test]
fn boot_verify_failed_check_leaves_no_server() {
    let (d, c, id) = boot_setup();
    let ok = boot_verify(&c, &id, |_: &BootedCopy| Ok(false), &Control::detached()).unwrap();
    assert!(!ok);
    assert!(d.verify_servers().is_empty());
    assert_eq!(d.count("DELETE", "/servers/"), 1);
}

#[test]
fn boot_verify_check_error_leaves_no_server() {
    let (d, c, id) = boot_setup();
    let err = boot_verify(
        &c,
        &id,
        |_: &BootedCopy| Err(runbook::error::Error::failed("ssh refused")),
        &Control::detached(),
    )
    .unwrap_err();
    assert_eq!(err.message(), "ssh refused");
    assert!(d.verify_servers().is_empty());
}

#[test]
fn boot_verify_check_panic_leaves_no_server() {
    let (d, c, id) = boot_setup();
    let r = catch_unwind(AssertUnwindSafe(|| {
        boot_verify(
            &c,
            &id,
            |_: &BootedCopy| panic!("check blew up"),
            &Control::detached(),
        )
    }));
    assert!(r.is_err(), "the panic is resumed after cleanup");
    assert!(d.verify_servers().is_empty());
    assert_eq!(d.count("DELETE", "/servers/"), 1);
}

#[test]
fn boot_verify_interrupt_during_check_leaves_no_server() {
    let (d, c, id) = boot_setup();
    let (control, flag) = interruptible();
    let err = boot_verify(
        &c,
        &id,
        |_: &BootedCopy| {
            flag.store(true, Ordering::Relaxed);
            Ok(true)
        },
        &control,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(d.verify_servers().is_empty());
}

#[test]
fn boot_verify_interrupt_while_booting_leaves_no_server() {
    let (d, c, id) = boot_setup();
    d.state.lock().unwrap().action_polls = 100_000;
    let (control, flag) = interruptible();
    let d2 = d.clone();
    std::thread::spawn(move || {
        while d2.verify_servers().is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50));
        flag.store(true, Ordering::Relaxed);
    });
    let mut ran = false;
    let err = boot_verify(
        &c,
        &id,
        |_: &BootedCopy| {
            ran = true;
            Ok(true)
        },
        &control,
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Interrupted);
    assert!(!ran);
    assert_eq!(d.count("POST", "/servers"), 1);
    assert!(
        d.verify_servers().is_empty(),
        "the half-booted copy was deleted"
    );
}

// ---------------------------------------------------------------------------------------------
// Contabo

fn contabo(d: &ContaboDouble, password: &str) -> ContaboClient {
    ContaboClient::new(
        &d.url,
        &d.auth_url,
        "cid",
        Secret::new("CONTABO_CLIENT_SECRET", "csecret-xyz"),
        "ops@example.com",
        Secret::new("CONTABO_API_PASSWORD", password),
        INSTANCE_ID,
        "rb-",
    )
    .unwrap()
    .with_retry(fast())
    .unwrap()
}

fn contabo_double() -> ContaboDouble {
    ContaboDouble::start("cid", "csecret-xyz", "ops@example.com", "api-pass-xyz")
}

#[test]
fn contabo_bad_password_names_keycloak_error_and_hides_secrets() {
    let d = contabo_double();
    let c = contabo(&d, "wrong-password-123");
    let err = c.list_snapshots(&Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 401 invalid_grant: Invalid user credentials"),
        "{text}"
    );
    assert!(
        !text.contains("wrong-password-123") && !text.contains("csecret-xyz"),
        "{text}"
    );
}

#[test]
fn contabo_token_is_cached_and_every_call_has_fresh_request_id() {
    let d = contabo_double();
    d.add_snapshot("rb-2026-11-01-0300", 10);
    let c = contabo(&d, "api-pass-xyz");
    for _ in 0..3 {
        c.list_snapshots(&Control::detached()).unwrap();
    }
    assert_eq!(d.count("POST", contabo_double::TOKEN_PATH), 1);
    let st = d.state.lock().unwrap();
    assert_eq!(st.request_ids.len(), 3);
    let mut ids = st.request_ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "fresh x-request-id per call");
    let traces: Vec<&str> = st
        .log
        .iter()
        .filter_map(|(r, _)| r.header("x-trace-id"))
        .collect();
    assert_eq!(traces.len(), 3);
    assert!(
        traces.iter().all(|t| *t == traces[0]),
        "one trace id per client"
    );
    let form = st.log[0].0.form();
    assert!(form.contains(&("grant_type".into(), "password".into())));
}

#[test]
fn contabo_token_is_renewed_after_expiry() {
    let d = contabo_double();
    d.state.lock().unwrap().expires_in = 1;
    let c = contabo(&d, "api-pass-xyz");
    c.list_snapshots(&Control::detached()).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    c.list_snapshots(&Control::detached()).unwrap();
    assert_eq!(d.count("POST", contabo_double::TOKEN_PATH), 2);
}

#[test]
fn contabo_double_rejects_missing_or_bad_request_id() {
    let d = contabo_double();
    let c = contabo(&d, "api-pass-xyz");
    c.list_snapshots(&Control::detached()).unwrap();
    let token = d.state.lock().unwrap().tokens[0].0.clone();
    let auth = format!("Bearer {token}");
    let path = format!("/v1/compute/instances/{INSTANCE_ID}/snapshots");
    let (s, b) = raw_request(&d.url, "GET", &path, &[("Authorization", &auth)], "");
    assert_eq!(s, 400, "{b}");
    assert!(b.contains(r#""statusCode":400"#));
    let bad = [
        ("Authorization", auth.as_str()),
        ("x-request-id", "not-a-uuid"),
    ];
    assert_eq!(raw_request(&d.url, "GET", &path, &bad, "").0, 400);
    let v1 = [
        ("Authorization", auth.as_str()),
        ("x-request-id", "04e0f898-37b4-48bc-a794-1a57abe6aa31"),
    ];
    assert_eq!(raw_request(&d.url, "GET", &path, &v1, "").0, 200);
    assert!(contabo_double::request_id_ok(&runbook::host::http::uuid4()));
}

#[test]
fn contabo_lists_across_pages() {
    let d = contabo_double();
    {
        let mut st = d.state.lock().unwrap();
        st.max_page_size = 2;
        st.limit = 10;
    }
    for h in 1..=5 {
        d.add_snapshot(&format!("rb-snap-{h}"), 10 - h);
    }
    let c = contabo(&d, "api-pass-xyz");
    let list = c.list_snapshots(&Control::detached()).unwrap();
    let names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rb-snap-5",
            "rb-snap-4",
            "rb-snap-3",
            "rb-snap-2",
            "rb-snap-1"
        ]
    );
    assert_eq!(d.count("GET", "/v1/"), 3);
}

#[test]
fn contabo_create_names_snapshot_with_prefix_and_time() {
    let d = contabo_double();
    let c = contabo(&d, "api-pass-xyz");
    let s = c
        .create_snapshot("weekly snapshot", &Control::detached())
        .unwrap();
    assert!(s.ours && s.status == SnapshotStatus::Available);
    assert_eq!(s.name.len(), "rb-2026-12-04-0300".len());
    assert!(s.name.starts_with("rb-20"), "{}", s.name);
    let st = d.state.lock().unwrap();
    assert_eq!(st.snapshots[0]["description"], "weekly snapshot");
}

#[test]
fn contabo_402_deletes_oldest_own_and_retries_once() {
    let d = contabo_double();
    d.add_snapshot("manual golden image", 500);
    d.add_snapshot("rb-2026-11-01-0300", 300);
    d.add_snapshot("rb-2026-11-08-0300", 100);
    let c = contabo(&d, "api-pass-xyz");
    let s = c.create_snapshot("weekly", &Control::detached()).unwrap();
    let names = d.names();
    assert_eq!(names.len(), 3);
    assert_eq!(names[0], "manual golden image", "foreign is never deleted");
    assert_eq!(names[1], "rb-2026-11-08-0300");
    assert_eq!(names[2], s.name);
    let st = d.state.lock().unwrap();
    let statuses: Vec<u16> = st
        .log
        .iter()
        .filter(|(r, _)| r.method != "GET")
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        statuses,
        [200, 402, 204, 201],
        "token, create, delete oldest own, create"
    );
}

#[test]
fn contabo_402_without_own_snapshot_fails_naming_the_limit() {
    let d = contabo_double();
    d.state.lock().unwrap().limit = 1;
    d.add_snapshot("manual golden image", 500);
    let c = contabo(&d, "api-pass-xyz");
    let err = c
        .create_snapshot("weekly", &Control::detached())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("Total snapshots exceed the total max limit of 1 snapshots"),
        "{text}"
    );
    assert!(
        text.contains("none of the existing snapshots is ours"),
        "{text}"
    );
    assert_eq!(d.names(), ["manual golden image"]);
    assert_eq!(d.count("DELETE", "/v1/"), 0);
}

#[test]
fn contabo_rollback_deletes_newer_snapshots() {
    let d = contabo_double();
    let s1 = d.add_snapshot("rb-2026-11-01-0300", 300);
    d.add_snapshot("rb-2026-11-08-0300", 200);
    d.add_snapshot("manual", 100);
    let c = contabo(&d, "api-pass-xyz");
    let gone = c.rollback(&s1, &Control::detached()).unwrap();
    let gone: Vec<&str> = gone.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(gone, ["manual", "rb-2026-11-08-0300"]);
    assert_eq!(d.names(), ["rb-2026-11-01-0300"]);
    let st = d.state.lock().unwrap();
    assert_eq!(st.rollbacks, std::slice::from_ref(&s1));
    let (r, s) = st
        .log
        .iter()
        .find(|(r, _)| r.path.ends_with("/rollback"))
        .unwrap();
    assert_eq!((*s, r.json().unwrap()), (200, json!({})));
    drop(st);
    let err = c
        .restore_snapshot("snap-nope", &Control::detached())
        .unwrap_err();
    assert!(
        err.to_string().contains("has no snapshot snap-nope"),
        "{err}"
    );
}

#[test]
fn contabo_429_is_retried_and_402_message_is_kept() {
    let d = contabo_double();
    d.state
        .lock()
        .unwrap()
        .inject
        .push_back((429, "Rate-limit reached. Please wait".into()));
    let c = contabo(&d, "api-pass-xyz");
    assert!(c.list_snapshots(&Control::detached()).unwrap().is_empty());
    let statuses: Vec<u16> = d
        .state
        .lock()
        .unwrap()
        .log
        .iter()
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(statuses, [200, 429, 200]);
}

#[test]
fn contabo_rejects_bad_prefix() {
    let d = contabo_double();
    let e = ContaboClient::new(
        &d.url,
        &d.auth_url,
        "cid",
        Secret::new("S", "x"),
        "u",
        Secret::new("P", "y"),
        1,
        "rb_",
    )
    .err()
    .unwrap();
    assert_eq!(e.kind(), ErrorKind::Usage);
}

// ---------------------------------------------------------------------------------------------
// qemu

fn qemu_img(args: &[&str]) {
    let s = Command::new("qemu-img")
        .args(args)
        .status()
        .expect("qemu-img is installed");
    assert!(s.success(), "qemu-img {args:?}");
}

fn first_mib(disk: &Path) -> Vec<u8> {
    let raw = disk.with_extension("raw");
    qemu_img(&[
        "convert",
        "-O",
        "raw",
        disk.to_str().unwrap(),
        raw.to_str().unwrap(),
    ]);
    let mut b = std::fs::read(&raw).unwrap();
    b.truncate(1 << 20);
    b
}

fn qemu_write(disk: &Path, pattern: &str) {
    let s = Command::new("qemu-io")
        .args([
            "-f",
            "qcow2",
            "-c",
            &format!("write -P {pattern} 0 1M"),
            disk.to_str().unwrap(),
        ])
        .output()
        .expect("qemu-io is installed");
    assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
}

#[test]
fn qemu_snapshot_write_apply_brings_data_back() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", disk.to_str().unwrap(), "16M"]);
    qemu_write(&disk, "0xaa");
    let img = QemuImage::new(&disk);
    let snap = img
        .create_snapshot("before upgrade", &Control::detached())
        .unwrap();
    assert!(snap.ours && snap.id.starts_with("runbook-") && snap.id.ends_with("-before-upgrade"));
    qemu_write(&disk, "0x55");
    assert!(first_mib(&disk).iter().all(|b| *b == 0x55));
    img.restore_snapshot(&snap.id, &Control::detached())
        .unwrap();
    assert!(
        first_mib(&disk).iter().all(|b| *b == 0xaa),
        "the snapshot's data is back"
    );
}

#[test]
fn qemu_list_marks_ours_and_delete_and_prune_work() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.qcow2");
    let p = disk.to_str().unwrap();
    qemu_img(&["create", "-q", "-f", "qcow2", p, "16M"]);
    qemu_img(&["snapshot", "-c", "hand made", p]);
    let img = QemuImage::new(&disk);
    let a = img.create_snapshot("", &Control::detached()).unwrap();
    let b = img.create_snapshot("", &Control::detached()).unwrap();
    assert_ne!(a.id, b.id, "same second: the tag gets a suffix");
    let list = img.list_snapshots(&Control::detached()).unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list.iter().filter(|s| s.ours).count(), 2);
    assert!(list.iter().any(|s| s.id == "hand made" && !s.ours));
    img.delete_snapshot(&a.id, &Control::detached()).unwrap();
    let run = snapshot_and_prune(&img, "weekly", 1, &Control::detached()).unwrap();
    assert_eq!(run.pruned.len(), 1);
    let left: Vec<String> = img
        .list_snapshots(&Control::detached())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&"hand made".to_string()) && left.contains(&run.created.id));
    let err = img
        .delete_snapshot("nope", &Control::detached())
        .unwrap_err();
    assert!(err.to_string().contains("snapshot not found"), "{err}");
    assert!(img
        .boot_copy(&run.created.id, &Control::detached())
        .unwrap()
        .is_none());
}

#[test]
fn qemu_missing_binary_names_the_package() {
    let img = QemuImage::new("/nonexistent/disk.qcow2").with_binary("qemu-img-not-installed");
    let err = img.list_snapshots(&Control::detached()).unwrap_err();
    assert!(
        err.to_string()
            .contains("`qemu-img-not-installed` was not found"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("qemu-utils"));
    let err = boot_verify(&img, "x", |_: &BootedCopy| Ok(true), &Control::detached()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
}
