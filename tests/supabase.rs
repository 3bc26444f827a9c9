//! The Supabase Management API client and the `supabase(...)` script namespace against a local
//! double that follows `shared/reference/supabase.md` §1: backups and RPO checks (exit 3 when
//! stale), PITR restores that send the exact integer body and are only planned in a dry-run,
//! confirmations, 401/403/429 handling with hints, health with repeated query keys, and the
//! token never showing up in any output or journal.

mod support;

#[path = "support/hetzner_double.rs"]
mod hetzner_double;
#[path = "support/supabase_double.rs"]
mod supabase_double;

use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use runbook::context::control::Control;
use runbook::context::secrets::Secret;
use runbook::error::ErrorKind;
use runbook::host::http::RetryPolicy;
use runbook::host::supabase::{BackupStatus, ManagementApi};
use serde_json::json;

use supabase_double::{raw, SupabaseDouble, PROJECT_REF};
use support::Test;

const TOKEN: &str = "sbp_0123456789abcdef0123456789abcdef01234567";

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        base: Duration::from_millis(10),
        cap: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
    }
}

fn client(d: &SupabaseDouble, token: &str) -> ManagementApi {
    ManagementApi::new(
        &d.url,
        Secret::new("SUPABASE_ACCESS_TOKEN", token),
        PROJECT_REF,
    )
    .unwrap()
    .with_retry(fast())
    .unwrap()
}

fn hours(h: i64) -> ChronoDuration {
    ChronoDuration::hours(h)
}

// ---------------------------------------------------------------------------------------------
// The double itself

#[test]
fn double_checks_token_and_ref_and_always_sends_rate_limit_headers() {
    let d = SupabaseDouble::start(TOKEN);
    let auth = format!("Bearer {TOKEN}");
    let h = [("Authorization", auth.as_str())];
    let path = format!("/v1/projects/{PROJECT_REF}/database/backups");
    let (status, headers, body) = raw(&d.url, "GET", &path, &h, "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["physical_backup_data"], json!({}));
    let (status, headers401, body) = raw(&d.url, "GET", &path, &[], "");
    assert_eq!(
        (status, body.as_str()),
        (401, r#"{"message":"Unauthorized"}"#)
    );
    let (status, headers400, _) = raw(&d.url, "GET", "/v1/projects/ABC/database/backups", &h, "");
    assert_eq!(status, 400, "bad ref refused");
    for hs in [&headers, &headers401, &headers400] {
        for name in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(hs.iter().any(|(k, _)| k == name), "{name} missing: {hs:?}");
        }
    }
    d.state.lock().unwrap().throttle_next = 1;
    let (status, hs, body) = raw(&d.url, "GET", &path, &h, "");
    assert_eq!(status, 429);
    assert!(body.contains("ThrottlerException"));
    assert!(
        hs.contains(&("x-ratelimit-reset".into(), "1".into())),
        "{hs:?}"
    );
    // A string timestamp is refused: the spec says integer.
    d.enable_pitr(hours(48), hours(0));
    let restore = format!("/v1/projects/{PROJECT_REF}/database/backups/restore-pitr");
    let (status, _, _) = raw(
        &d.url,
        "POST",
        &restore,
        &h,
        r#"{"recovery_time_target_unix":"1740787200"}"#,
    );
    assert_eq!(status, 400);
}

// ---------------------------------------------------------------------------------------------
// Host level

#[test]
fn lists_backups_with_optional_id_and_unknown_status() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(26), "COMPLETED", None);
    d.add_backup(hours(2), "COMPLETED", Some(12));
    d.add_backup(hours(1), "SOMETHING_NEW", Some(13));
    d.add_backup(hours(0), "PENDING", Some(14));
    let c = client(&d, TOKEN);
    let list = c.backups(&Control::detached()).unwrap();
    assert_eq!(list.region, "eu-central-1");
    assert!(!list.pitr_enabled);
    assert_eq!(list.backups.len(), 4);
    assert_eq!(list.backups[0].id, None);
    assert_eq!(
        list.backups[2].status,
        BackupStatus::Other("SOMETHING_NEW".into())
    );
    let newest = c
        .newest_completed_backup(&Control::detached())
        .unwrap()
        .unwrap();
    assert_eq!(newest.id, Some(12), "the newest COMPLETED one, not PENDING");
    let age = c.backup_age(&Control::detached()).unwrap().unwrap();
    assert!(
        age >= Duration::from_secs(7190) && age < Duration::from_secs(7300),
        "{age:?}"
    );
    let req = &d.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(req.header("user-agent").unwrap().starts_with("runbook/"));
}

#[test]
fn freshness_green_at_2h_red_at_25h_and_pitr_uses_latest_point() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(2), "COMPLETED", Some(1));
    let c = client(&d, TOKEN);
    let day = Duration::from_secs(24 * 3600);
    let f = c
        .backups(&Control::detached())
        .unwrap()
        .freshness(day, Utc::now());
    assert!(f.ok, "{f:?}");
    d.state.lock().unwrap().backups.clear();
    d.add_backup(hours(25), "COMPLETED", Some(1));
    d.add_backup(hours(1), "FAILED", Some(2));
    let f = c
        .backups(&Control::detached())
        .unwrap()
        .freshness(day, Utc::now());
    assert!(!f.ok, "{f:?}");
    assert!(f.detail.contains("25h"), "{}", f.detail);
    // PITR on: daily backups stop, the latest recovery point counts.
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    let f = c
        .backups(&Control::detached())
        .unwrap()
        .freshness(day, Utc::now());
    assert!(f.ok && f.pitr_enabled, "{f:?}");
    assert!(f.source.contains("PITR"));
}

#[test]
fn restore_pitr_sends_the_exact_integer_body() {
    let d = SupabaseDouble::start(TOKEN);
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    let c = client(&d, TOKEN);
    let target = Utc::now() - hours(3);
    let target = Utc.timestamp_opt(target.timestamp(), 0).unwrap();
    let w = c.pitr_window(&Control::detached()).unwrap();
    assert!(w.enabled && w.known());
    c.restore_pitr(target, &Control::detached()).unwrap();
    let posts: Vec<_> = d
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].path,
        format!("/v1/projects/{PROJECT_REF}/database/backups/restore-pitr")
    );
    assert_eq!(
        String::from_utf8(posts[0].body.clone()).unwrap(),
        format!("{{\"recovery_time_target_unix\":{}}}", target.timestamp())
    );
    assert_eq!(posts[0].header("content-type"), Some("application/json"));
    assert_eq!(d.statuses().last(), Some(&201));
    assert_eq!(
        c.project_status(&Control::detached()).unwrap().status,
        "RESTORING"
    );
}

#[test]
fn restore_pitr_outside_the_window_is_refused_before_calling() {
    let d = SupabaseDouble::start(TOKEN);
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    let c = client(&d, TOKEN);
    for target in [Utc::now() - ChronoDuration::days(8), Utc::now() + hours(1)] {
        let err = c.restore_pitr(target, &Control::detached()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("outside the PITR window"), "{err}");
        assert!(err.hint().unwrap().contains("nothing was restored"));
    }
    assert_eq!(d.count("POST", "/"), 0);
}

#[test]
fn pitr_disabled_400_says_to_enable_the_add_on() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(2), "COMPLETED", Some(1));
    let c = client(&d, TOKEN);
    let w = c.pitr_window(&Control::detached()).unwrap();
    assert!(!w.enabled && w.earliest.is_none() && w.latest.is_none());
    let err = c
        .restore_pitr(Utc::now() - hours(1), &Control::detached())
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 400: PITR is not enabled for this project."),
        "{text}"
    );
    assert!(
        err.hint().unwrap().contains("add-on is not enabled"),
        "{text}"
    );
    assert_eq!(d.count("POST", "restore-pitr"), 1, "400 is not retried");
    assert!(!text.contains(TOKEN));
}

#[test]
fn unauthorized_401_points_at_the_token_and_hides_it() {
    let d = SupabaseDouble::start(TOKEN);
    let wrong = "sbp_ffffffffffffffffffffffffffffffffffffffff";
    let err = client(&d, wrong).backups(&Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 401: Unauthorized"), "{text}");
    assert!(text.contains("SUPABASE_ACCESS_TOKEN"), "{text}");
    assert!(
        text.contains("supabase.com/dashboard/account/tokens"),
        "{text}"
    );
    assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
    assert_eq!(d.count("GET", "/"), 1, "401 is not retried");
}

#[test]
fn forbidden_403_lists_the_missing_permissions() {
    let d = SupabaseDouble::start(TOKEN);
    d.state.lock().unwrap().forbid = Some(vec!["backups_read".into()]);
    let err = client(&d, TOKEN).backups(&Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("HTTP 403: Forbidden resource"), "{text}");
    assert!(text.contains("missing permissions: backups_read"), "{text}");
    assert!(
        err.hint()
            .unwrap()
            .contains("lacks the permission(s) backups_read"),
        "{text}"
    );
    // Without the list, the hint names the permissions each call needs.
    d.state.lock().unwrap().forbid = Some(vec![]);
    let err = client(&d, TOKEN).backups(&Control::detached()).unwrap_err();
    assert!(err.hint().unwrap().contains("backups_read"), "{err}");
}

#[test]
fn rate_limited_429_waits_for_the_reset_seconds_then_succeeds() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(2), "COMPLETED", Some(1));
    {
        let mut st = d.state.lock().unwrap();
        st.throttle_next = 1;
        st.throttle_reset_secs = 1;
    }
    let started = Instant::now();
    let list = client(&d, TOKEN).backups(&Control::detached()).unwrap();
    let took = started.elapsed();
    assert_eq!(list.backups.len(), 1);
    assert_eq!(d.statuses(), [429, 200]);
    assert!(
        took >= Duration::from_millis(950),
        "the 1 s reset was honoured, not just the 10 ms backoff: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn rate_limit_that_never_ends_says_how_often_it_retried() {
    let d = SupabaseDouble::start(TOKEN);
    {
        let mut st = d.state.lock().unwrap();
        st.throttle_next = 100;
        st.throttle_reset_secs = 0;
    }
    let err = client(&d, TOKEN).backups(&Control::detached()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 429: ThrottlerException: Too Many Requests"),
        "{text}"
    );
    assert!(err.hint().unwrap().contains("retried 3 time(s)"), "{text}");
    assert_eq!(d.statuses(), [429, 429, 429, 429]);
}

#[test]
fn schedule_get_patch_402_and_bad_format() {
    let d = SupabaseDouble::start(TOKEN);
    let c = client(&d, TOKEN);
    assert_eq!(
        c.backup_schedule(&Control::detached())
            .unwrap()
            .schedule_for,
        "04:00:00"
    );
    let s = c
        .set_backup_schedule("01:30:00", &Control::detached())
        .unwrap();
    assert_eq!(s.schedule_for, "01:30:00");
    assert!(s.updated_at.is_some());
    let patch = d
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.json().unwrap(), json!({"schedule_for": "01:30:00"}));
    let before = d.requests().len();
    let err = c
        .set_backup_schedule("1:30", &Control::detached())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Usage);
    assert_eq!(d.requests().len(), before, "refused before any request");
    d.state.lock().unwrap().schedule_needs_higher_plan = true;
    let err = c.backup_schedule(&Control::detached()).unwrap_err();
    assert!(
        err.to_string()
            .contains("HTTP 402: Feature requires a higher plan"),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("plan lacks this feature"));
}

#[test]
fn health_sends_repeated_service_keys_and_reports_unhealthy() {
    let d = SupabaseDouble::start(TOKEN);
    let c = client(&d, TOKEN);
    let services = vec!["db".to_string(), "auth".to_string()];
    let list = c
        .health(&services, Some(2000), &Control::detached())
        .unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|s| s.ok()));
    let req = d.requests().pop().unwrap();
    assert_eq!(req.path, format!("/v1/projects/{PROJECT_REF}/health"));
    assert_eq!(req.raw_query, "services=db&services=auth&timeout_ms=2000");
    d.set_health("auth", "UNHEALTHY", Some("GoTrue is down"));
    let report = c
        .health_check(
            &services,
            None,
            1,
            Duration::from_millis(10),
            &Control::detached(),
        )
        .unwrap();
    assert!(!report.ok);
    assert_eq!(report.attempts, 2);
    assert!(
        report.detail.contains("auth UNHEALTHY (GoTrue is down)"),
        "{}",
        report.detail
    );
    // Unknown services and over-long timeouts are refused before any request.
    let before = d.requests().len();
    let err = c
        .health(&["database".into()], None, &Control::detached())
        .unwrap_err();
    assert!(err.hint().unwrap().contains("db_postgres_user"), "{err}");
    assert!(c
        .health(&services, Some(20_000), &Control::detached())
        .is_err());
    assert!(c.health(&[], None, &Control::detached()).is_err());
    assert_eq!(d.requests().len(), before);
}

#[test]
fn bad_project_ref_is_refused_without_a_request() {
    let d = SupabaseDouble::start(TOKEN);
    for bad in ["short", "ABCDEFGHIJKLMNOPQRST", "abcdefghijklmnopqrs1"] {
        let err = ManagementApi::new(&d.url, Secret::new("T", TOKEN), bad)
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::Usage);
        assert!(err.message().contains("20 lowercase letters"), "{err}");
    }
    assert!(d.requests().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Scripts

/// A project whose `run.rhai` opens the double's project as `sb`, then runs `body`.
fn project(d: &SupabaseDouble, body: &str) -> Test {
    let script = format!(
        "runbook(#{{ title: \"Supabase\", rpo: \"24h\" }});\n\
         let sb = supabase(#{{ project_ref: \"{PROJECT_REF}\", token: secret(\"SUPABASE_ACCESS_TOKEN\"), api_url: \"{}\" }});\n\
         {body}\n",
        d.url
    );
    Test::new()
        .file("run.rhai", &script)
        .env("SUPABASE_ACCESS_TOKEN", TOKEN)
}

const RPO: &str = r#"
let c = step("Check Supabase backups", || sb.check_backups(#{ max_age: "24h" }));
log(`fresh=${c.ok} age=${c.age} pitr=${c.pitr_enabled}: ${c.detail}`);
if !c.ok { target_missed(`Supabase backups: ${c.detail}`); }
"#;

#[test]
fn script_rpo_check_green_for_a_2h_old_backup() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(2), "COMPLETED", Some(1));
    project(
        &d,
        &format!("log(`${{sb}}`); log(`${{sb.backups().len()}} backup(s)`);{RPO}"),
    )
    .again(&["run", "run.rhai"])
    .code(0)
    .stdout_has(&format!("Supabase(supabase project {PROJECT_REF})"))
    .stdout_has("1 backup(s)")
    .stdout_has("fresh=true age=2h 00m pitr=false");
}

#[test]
fn script_rpo_check_red_for_a_25h_old_backup_exits_3() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(25), "COMPLETED", Some(1));
    d.add_backup(hours(1), "FAILED", Some(2));
    let out = project(&d, RPO).again(&["run", "run.rhai"]);
    out.code(3)
        .stdout_has("fresh=false age=25h 00m")
        .stderr_has("Supabase backups: newest daily backup is 25h 00m old");
    // No backup at all is red too.
    d.state.lock().unwrap().backups.clear();
    project(&d, RPO)
        .again(&["run", "run.rhai"])
        .code(3)
        .stderr_has("no platform backup");
}

#[test]
fn script_latest_backup_pitr_schedule_status() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(5), "COMPLETED", None);
    d.add_backup(hours(30), "COMPLETED", Some(7));
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    project(
        &d,
        r#"let b = sb.latest_backup();
log(`latest id_missing=${b.id == ()} status=${b.status} physical=${b.physical}`);
let w = sb.pitr();
log(`pitr enabled=${w.enabled} earliest_set=${w.earliest != ()}`);
log(`schedule ${sb.backup_schedule().schedule_for}`);
let s = sb.status();
log(`status ${s.status} healthy=${s.healthy} name=${s.name}`);"#,
    )
    .again(&["run", "run.rhai"])
    .code(0)
    .stdout_has("latest id_missing=true status=COMPLETED physical=true")
    .stdout_has("pitr enabled=true earliest_set=true")
    .stdout_has("schedule 04:00:00")
    .stdout_has("status ACTIVE_HEALTHY healthy=true name=mt5-prod");
}

#[test]
fn script_restore_pitr_is_only_planned_in_a_dry_run() {
    let d = SupabaseDouble::start(TOKEN);
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    let target = Utc
        .timestamp_opt((Utc::now() - hours(3)).timestamp(), 0)
        .unwrap();
    let t = project(
        &d,
        &format!(
            r#"let r = step("Restore database", || sb.restore_pitr("{}"));
log(`restored to ${{r.target_unix}}`);"#,
            target.to_rfc3339()
        ),
    );
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has(&format!(
            "restore the database of supabase project {PROJECT_REF} to {} (recovery_time_target_unix {})",
            target.to_rfc3339(),
            target.timestamp()
        ))
        .stdout_has(&format!("restored to {}", target.timestamp()));
    assert_eq!(d.count("POST", "/"), 0, "a dry-run sends no restore");
    assert!(
        d.count("GET", "/database/backups") >= 1,
        "the window was read for real"
    );
    // Live without a terminal and without --yes: stops before the API.
    t.again(&["run", "run.rhai"])
        .code(2)
        .stderr_has("confirmation needed but there is no terminal")
        .stderr_has("--yes");
    assert_eq!(
        d.count("POST", "/"),
        0,
        "nothing restored without confirmation"
    );
    // With --yes it is sent, with the integer body.
    t.again(&["run", "--yes", "run.rhai"])
        .code(0)
        .stdout_has(&format!("restored to {}", target.timestamp()));
    let st = d.state.lock().unwrap();
    assert_eq!(
        st.restores,
        [json!({"recovery_time_target_unix": target.timestamp()})]
    );
}

#[test]
fn script_restore_pitr_refuses_bad_times_and_reports_pitr_off() {
    let d = SupabaseDouble::start(TOKEN);
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    project(&d, r#"sb.restore_pitr("yesterday");"#)
        .again(&["run", "--dry-run", "run.rhai"])
        .code(2)
        .stderr_has("is not an RFC 3339 time");
    project(&d, r#"sb.restore_pitr("2001-01-01T00:00:00Z");"#)
        .again(&["run", "--dry-run", "run.rhai"])
        .code(2)
        .stderr_has("outside the PITR window");
    d.state.lock().unwrap().pitr_enabled = false;
    let when = (Utc::now() - hours(1)).to_rfc3339();
    let out = project(
        &d,
        &format!(
            r#"try {{ sb.restore_pitr("{when}"); }} catch (e) {{ log(`caught: ${{e.message}}`); log(`hint: ${{e}}`); }}"#
        ),
    )
    .again(&["run", "--yes", "run.rhai"]);
    out.code(0)
        .stdout_has("caught: supabase: restoring to")
        .stdout_has("PITR is not enabled for this project.")
        .stdout_has("add-on is not enabled");
}

#[test]
fn script_set_backup_schedule_is_a_planned_write() {
    let d = SupabaseDouble::start(TOKEN);
    let t = project(
        &d,
        r#"let s = sb.set_backup_schedule("01:30:00"); log(`schedule now ${s.schedule_for}`);"#,
    );
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has("set the daily backup time of")
        .stdout_has("schedule now 01:30:00");
    assert_eq!(d.count("PATCH", "/"), 0);
    t.again(&["run", "run.rhai"])
        .code(0)
        .stdout_has("schedule now 01:30:00");
    assert_eq!(d.state.lock().unwrap().schedule_for, "01:30:00");
    project(&d, r#"sb.set_backup_schedule("25:00:00");"#)
        .again(&["run", "--dry-run", "run.rhai"])
        .code(2)
        .stderr_has("HH:MM:SS");
}

#[test]
fn script_health_reports_an_unhealthy_service() {
    let d = SupabaseDouble::start(TOKEN);
    d.set_health("auth", "UNHEALTHY", Some("GoTrue is down"));
    project(
        &d,
        r#"let h = sb.health(["db", "auth"], #{ timeout: "2s" });
log(`ok=${h.ok} attempts=${h.attempts} latency_set=${h.latency_ms >= 0}`);
for s in h.services { log(`svc ${s.name} ${s.status} healthy=${s.healthy} error=${s.error}`); }
log(h.detail);
let g = sb.health(["db"]);
log(`db only ok=${g.ok}`);"#,
    )
    .again(&["run", "--dry-run", "run.rhai"])
    .code(0)
    .stdout_has("ok=false attempts=1 latency_set=true")
    .stdout_has("svc db ACTIVE_HEALTHY healthy=true error=")
    .stdout_has("svc auth UNHEALTHY healthy=false error=GoTrue is down")
    .stdout_has("auth UNHEALTHY (GoTrue is down)")
    .stdout_has("db only ok=true");
    let req = d
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/health"))
        .unwrap();
    assert_eq!(req.raw_query, "services=db&services=auth&timeout_ms=2000");
    project(&d, r#"sb.health(["db", "web"]);"#)
        .again(&["run", "run.rhai"])
        .code(2)
        .stderr_has("unknown service \"web\"");
}

#[test]
fn script_options_are_checked_and_the_token_must_be_a_secret() {
    let d = SupabaseDouble::start(TOKEN);
    let run = |script: &str| {
        Test::new()
            .file(
                "run.rhai",
                &format!("runbook(#{{ title: \"S\" }});\n{script}"),
            )
            .env("SUPABASE_ACCESS_TOKEN", TOKEN)
            .args(&["run", "run.rhai"])
            .run()
    };
    run(&format!(
        r#"supabase(#{{ project_ref: "{PROJECT_REF}", token: "{TOKEN}" }});"#
    ))
    .code(2)
    .stderr_has("must come from secret(\"SUPABASE_ACCESS_TOKEN\")");
    run(&format!(
        r#"supabase(#{{ project_ref: "{PROJECT_REF}", token: secret("SUPABASE_ACCESS_TOKEN"), api: "{}" }});"#,
        d.url
    ))
    .code(2)
    .stderr_has("unknown option `api`")
    .stderr_has("api_url");
    run(r#"supabase(#{ project_ref: "nope", token: secret("SUPABASE_ACCESS_TOKEN") });"#)
        .code(2)
        .stderr_has("20 lowercase letters");
    run(&format!(
        r#"supabase(#{{ project_ref: "{PROJECT_REF}", token: secret("SUPABASE_ACCESS_TOKEN") }}).check_backups(#{{ max: "1h" }});"#
    ))
    .code(2)
    .stderr_has("unknown option `max`");
    assert!(d.requests().is_empty());
}

#[test]
fn the_token_never_appears_in_output_or_journal() {
    let d = SupabaseDouble::start(TOKEN);
    d.add_backup(hours(2), "COMPLETED", Some(1));
    d.enable_pitr(ChronoDuration::days(7), ChronoDuration::minutes(2));
    let when = (Utc::now() - hours(1)).to_rfc3339();
    let body = format!(
        r#"log(`${{sb}}`);
let t = secret("SUPABASE_ACCESS_TOKEN");
log(`token ${{t}}`);
step("List", || sb.backups());
step("Check", || sb.check_backups(#{{ max_age: "24h" }}));
step("Restore", || sb.restore_pitr("{when}"));
sb.set_backup_schedule("02:00:00");"#
    );
    let t = project(&d, &body);
    let outs = [
        t.again(&["run", "--yes", "run.rhai"]),
        t.again(&["run", "--dry-run", "run.rhai"]),
        t.again(&["run", "--yes", "--json", "run.rhai"]),
    ];
    for out in &outs {
        out.code(0);
        assert!(
            !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
            "{out}"
        );
    }
    // A refused token fails the run without echoing it anywhere either.
    d.state.lock().unwrap().token = "sbp_other".into();
    let out = t.again(&["run", "--yes", "run.rhai"]);
    out.code(1).stderr_has("HTTP 401: Unauthorized");
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "{out}"
    );
    let journals = t.journals();
    assert!(journals.len() >= 3, "live runs wrote journals");
    for (path, text) in journals {
        assert!(!text.contains(TOKEN), "{} holds the token", path.display());
    }
}
