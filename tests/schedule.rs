//! `runbook schedule`: crontab lines, systemd timers and Windows Task Scheduler tasks from the
//! runbooks' `schedule` metadata (UTC); unscheduled runbooks skipped; inexpressible cron refused.

mod support;

use support::Test;

fn project() -> Test {
    Test::new()
        .file(
            "runbooks/backup-database.rhai",
            r#"runbook(#{ title: "Back up the database", schedule: "0 2 * * *" });"#,
        )
        .file(
            "runbooks/snapshot-vps.rhai",
            r#"runbook(#{ title: "Snapshot the VPS", schedule: "0 3 * * SUN" });"#,
        )
        .file(
            "runbooks/restore-full.rhai",
            r#"runbook(#{ title: "Restore everything" });"#,
        )
}

const TARGET: [&str; 6] = [
    "--workdir",
    "/srv/ops",
    "--runbook-bin",
    "/usr/local/bin/runbook",
    "--log-dir",
    "/var/log/runbook",
];

fn args<'a>(format: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["schedule", "--format", format];
    v.extend_from_slice(extra);
    v
}

#[test]
fn cron_lines_run_each_scheduled_runbook_in_utc_with_a_log() {
    let out = project().again(&args("cron", &TARGET));
    out.code(0)
        .stdout_has("CRON_TZ=UTC\n")
        .stdout_has(
            "# Back up the database\n0 2 * * * cd /srv/ops && mkdir -p /var/log/runbook && /usr/local/bin/runbook run runbooks/backup-database.rhai >> /var/log/runbook/backup-database.log 2>&1\n",
        )
        .stdout_has("0 3 * * SUN cd /srv/ops && ")
        .stdout_lacks("restore-full")
        .stderr_has("note: runbooks/restore-full.rhai has no schedule; skipped");
}

#[test]
fn cron_quotes_paths_with_spaces() {
    project()
        .again(&[
            "schedule",
            "--format",
            "cron",
            "--workdir",
            "/srv/my ops",
            "--runbook-bin",
            "runbook",
        ])
        .code(0)
        .stdout_has("cd '/srv/my ops' && mkdir -p .runbook/logs && runbook run");
}

#[test]
fn systemd_units_pair_a_oneshot_service_with_a_utc_timer() {
    let out = project().again(&args("systemd", &TARGET));
    out.code(0)
        .stdout_has("# ==> runbook-backup-database.service <==\n[Unit]\nDescription=runbook: Back up the database\n")
        .stdout_has("Type=oneshot\nWorkingDirectory=/srv/ops\nExecStart=/usr/local/bin/runbook run runbooks/backup-database.rhai\n")
        .stdout_has("StandardOutput=append:/var/log/runbook/backup-database.log\n")
        .stdout_has("# ==> runbook-backup-database.timer <==\n")
        .stdout_has("[Timer]\nOnCalendar=*-*-* 02:00:00 UTC\nPersistent=true\n")
        .stdout_has("OnCalendar=Sun *-*-* 03:00:00 UTC\n")
        .stdout_has("[Install]\nWantedBy=timers.target\n")
        .stdout_has("systemctl enable --now runbook-backup-database.timer runbook-snapshot-vps.timer")
        .stdout_lacks("restore-full");
}

#[test]
fn systemd_units_can_be_written_to_a_folder() {
    let t = project();
    let out_dir = t.path().join("units");
    let out_dir = out_dir.to_str().unwrap();
    t.again(&args(
        "systemd",
        &["--out-dir", out_dir, "--runbook-bin", "/usr/bin/runbook"],
    ))
    .code(0)
    .stdout_has("wrote ");
    let mut names: Vec<String> = std::fs::read_dir(t.path().join("units"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "runbook-backup-database.service",
            "runbook-backup-database.timer",
            "runbook-snapshot-vps.service",
            "runbook-snapshot-vps.timer"
        ]
    );
    let service =
        std::fs::read_to_string(t.path().join("units/runbook-backup-database.service")).unwrap();
    assert!(service.contains("journalctl -u runbook-backup-database"));
}

#[test]
fn a_cron_systemd_cannot_express_is_refused_for_systemd_but_not_for_cron() {
    let t = Test::new().file(
        "runbooks/odd.rhai",
        r#"runbook(#{ title: "Odd", schedule: "0 3 1 * 1" });"#,
    );
    t.again(&args("systemd", &TARGET))
        .code(2)
        .stderr_has("runbooks/odd.rhai: schedule \"0 3 1 * 1\"")
        .stderr_has("day-of-month OR day-of-week")
        .stderr_has("hint:");
    t.again(&args("windows", &[]))
        .code(2)
        .stderr_has("OR day-of-week");
    t.again(&args("cron", &TARGET))
        .code(0)
        .stdout_has("0 3 1 * 1 cd /srv/ops");
}

#[test]
fn windows_tasks_start_at_utc_boundaries_and_log() {
    let out = project().again(&[
        "schedule",
        "--format",
        "windows",
        "--workdir",
        "C:\\ops",
        "--runbook-bin",
        "C:\\ops\\runbook.exe",
    ]);
    out.code(0)
        .stdout_has("REM ==> runbook-backup-database.xml <==\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Task version=\"1.2\"")
        .stdout_has("<StartBoundary>2026-01-01T02:00:00Z</StartBoundary>\n      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>")
        .stdout_has("<StartBoundary>2026-01-01T03:00:00Z</StartBoundary>\n      <ScheduleByWeek><WeeksInterval>1</WeeksInterval><DaysOfWeek><Sunday/></DaysOfWeek></ScheduleByWeek>")
        .stdout_has("<Command>cmd.exe</Command>")
        .stdout_has("\"C:\\ops\\runbook.exe\" run \"runbooks\\backup-database.rhai\" &gt;&gt; \".runbook\\logs\\backup-database.log\" 2&gt;&amp;1")
        .stdout_has("<WorkingDirectory>C:\\ops</WorkingDirectory>")
        .stdout_has("REM   schtasks /Create /TN \"runbook\\backup-database\" /XML \"runbook-backup-database.xml\" /F")
        .stdout_lacks("restore-full");
}

#[test]
fn without_scheduled_runbooks_there_is_nothing_to_do() {
    Test::new()
        .file("runbooks/a.rhai", r#"runbook(#{ title: "A" });"#)
        .args(&["schedule", "--format", "cron"])
        .run()
        .code(0)
        .stderr_has("no runbook in runbooks declares a schedule");
}

#[test]
fn list_shows_the_next_run_in_utc() {
    let out = project().again(&["list", "--json"]);
    out.code(0);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let backup = rows
        .iter()
        .find(|r| r["title"] == "Back up the database")
        .unwrap();
    assert!(backup["next_run"].as_str().unwrap().ends_with("02:00 UTC"));
    let restore = rows
        .iter()
        .find(|r| r["title"] == "Restore everything")
        .unwrap();
    assert!(restore["next_run"].is_null());
}
