//! The end-to-end test of issue 8, on one machine and only on 127.0.0.1: a project made with
//! `runbook init` and configured by a `.env` written from `.env.example`, against a sample
//! service (a tiny HTTP server with `/health`), a throw-away Postgres cluster holding the
//! trading fixture (roles, RLS, policies), the in-process S3 server as the backup store, the
//! Supabase Management API double (a fresh platform backup), the Hetzner Cloud double and a
//! real qcow2 image.
//!
//! The three backup runbooks run live; then `runbook drill` runs `drill-quarterly-full.rhai`,
//! which restores into scratch targets and validates health, and records a drill whose RTO
//! verdict and timings are checked against the clock; then `runbook doc` regenerates the
//! playbook, whose drill history holds that drill. Production (database, `APP_DIR`, store,
//! VPS) is unchanged by the drill, and no secret shows anywhere.

#[path = "support/hetzner_double.rs"]
mod hetzner_double;
#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/s3.rs"]
mod s3;
#[path = "support/supabase_double.rs"]
mod supabase_double;
mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Duration as ChronoDuration;
use hetzner_double::{HetznerDouble, SERVER_ID};
use postgres::{fixture_cluster, Cluster, PASSWORD};
use runbook::context::output::format_duration_ms;
use s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use serde_json::Value;
use sha2::{Digest, Sha256};
use supabase_double::{SupabaseDouble, PROJECT_REF};
use support::{binary, qemu_image, qemu_snapshots, repo, tree, Output, Test};

/// The backup encryption key (given through `BACKUP_ENCRYPTION_KEY_FILE`).
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const SUPABASE_TOKEN: &str = "sbp_e2e0123456789abcdef0123456789abcdef0123";
const HETZNER_TOKEN: &str = "hcloud-e2e-token-9876543210";
/// A secret of the service itself, in `APP_DIR/.env`.
const MT5_PASSWORD: &str = "hunter2-mt5-e2e";
const NOTE: &str = "e2e drill";
const OPERATOR: &str = "e2e";

// ---------------------------------------------------------------------------------------------
// The sample service

/// The sample service: answers `GET /health` with 200 `{"status":"ok"}`, anything else 404.
struct Service {
    url: String,
    health_checks: Arc<AtomicUsize>,
}

impl Service {
    fn start() -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let health_checks = Arc::new(AtomicUsize::new(0));
        let counter = health_checks.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).unwrap_or(0) == 0 {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                }
                let mut parts = request.split_whitespace();
                let (status, body) = match (parts.next(), parts.next()) {
                    (Some("GET"), Some("/health")) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        ("200 OK", r#"{"status":"ok"}"#)
                    }
                    _ => ("404 Not Found", r#"{"error":"not found"}"#),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Service { url, health_checks }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// Runs `runbook` in the project with a clean environment (only `PATH`, plus `extra`): all
/// configuration comes from the project's `.env`.
fn run(dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let out = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(extra.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let out = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    };
    eprintln!(
        "runbook {} -> exit {} in {took:.1?}",
        args.join(" "),
        out.code
    );
    (out, took)
}

/// The project's `.env`: `.env.example` line by line with `settings` filled in. Every setting
/// must be a variable `.env.example` documents, or the documented `NAME_FILE` form of one.
fn dot_env(example: &str, settings: &[(&str, String)]) -> String {
    let documented: BTreeSet<&str> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim()))
        .collect();
    let mut out = String::new();
    for line in example.lines() {
        let key = line
            .split_once('=')
            .filter(|_| !line.trim_start().starts_with('#'))
            .map(|(k, _)| k.trim());
        match key.and_then(|k| settings.iter().find(|(name, _)| *name == k)) {
            Some((name, value)) => out.push_str(&format!("{name}='{value}'\n")),
            None => out.push_str(&format!("{line}\n")),
        }
    }
    for (name, value) in settings {
        if documented.contains(name) {
            continue;
        }
        let base = name.strip_suffix("_FILE").unwrap_or("-");
        assert!(
            documented.contains(base) && example.contains("NAME_FILE"),
            "{name} is not documented in .env.example"
        );
        out.push_str(&format!("{name}='{value}'\n"));
    }
    out
}

/// Row counts of every fixture table and the number of policies of the production database.
fn production_counts(cluster: &Cluster) -> String {
    cluster.psql(
        "app",
        "SELECT (SELECT count(*) FROM app.accounts) || ',' || (SELECT count(*) FROM app.trades) \
         || ',' || (SELECT count(*) FROM public.settings) || ',' \
         || (SELECT count(*) FROM public.audit_log) || ',' || (SELECT count(*) FROM pg_policies)",
    )
}

/// Our available snapshot images of server 42 in the Hetzner double.
fn hetzner_snapshots(hetzner: &HetznerDouble) -> Vec<i64> {
    let st = hetzner.state.lock().unwrap();
    st.images
        .iter()
        .filter(|(_, image)| {
            image.pointer("/labels/managed-by").and_then(Value::as_str) == Some("runbook")
                && image
                    .pointer("/labels/runbook-server")
                    .and_then(Value::as_str)
                    == Some(SERVER_ID.to_string().as_str())
                && image["status"] == "available"
        })
        .map(|(id, _)| *id)
        .collect()
}

/// Requests that change something at Hetzner (everything but `GET`).
fn hetzner_writes(hetzner: &HetznerDouble) -> usize {
    let st = hetzner.state.lock().unwrap();
    st.log.iter().filter(|(r, _)| r.method != "GET").count()
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

fn row<'a>(text: &'a str, starts: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no line starts with {starts:?} in\n{text}"))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn backups_then_the_quarterly_drill_then_the_playbook() {
    let clock = Instant::now();

    // 1. The services.
    let s3 = S3Server::start();
    let cluster = fixture_cluster();
    let supabase = SupabaseDouble::start(SUPABASE_TOKEN);
    supabase.add_backup(ChronoDuration::hours(2), "COMPLETED", Some(1));
    let hetzner = HetznerDouble::start(HETZNER_TOKEN);
    let service = Service::start();

    // The project, as an operator starts one: `runbook init`, then `.env` from `.env.example`.
    let t = Test::new();
    let dir = t.path().to_path_buf();
    std::fs::remove_file(dir.join("runbook.toml")).unwrap();
    let mut outputs: Vec<Output> = Vec::new();
    let (out, _) = run(&dir, &["init"], &[]);
    out.code(0);
    outputs.push(out);
    assert_eq!(
        std::fs::read_to_string(dir.join("runbooks/drill-quarterly-full.rhai")).unwrap(),
        std::fs::read_to_string(repo().join("runbooks/drill-quarterly-full.rhai")).unwrap(),
        "init writes the shipped runbooks"
    );
    t.put(
        "app/.env",
        &format!("MT5_LOGIN=12345678\nMT5_PASSWORD={MT5_PASSWORD}\n"),
    )
    .put(
        "app/config/service.json",
        r#"{ "symbols": ["EURUSD", "XAUUSD"] }"#,
    )
    .put("app/config/risk.toml", "max_lot = 2.5\n")
    .put("app/logs/today.log", "fill ok\n")
    .put("app/logs/old.log", "last month\n")
    .put("secrets/backup.key", &format!("{KEY}\n"));
    let month_ago = chrono::Utc::now().timestamp() - 30 * 86400;
    filetime::set_file_mtime(
        dir.join("app/logs/old.log"),
        filetime::FileTime::from_unix_time(month_ago, 0),
    )
    .unwrap();
    let disk = qemu_image(&t);
    let example = std::fs::read_to_string(dir.join(".env.example")).unwrap();
    // Everything else keeps its `.env.example` value: `BACKUP_ENCRYPTION_KEY=` stays empty
    // (the key comes from `BACKUP_ENCRYPTION_KEY_FILE`), `DATABASE_DUMP_SUPABASE=` empty means
    // Supabase-style dumps since `SUPABASE_PROJECT_REF` is set, `DRILL_DATABASE_URL=` empty
    // means the drill's scratch database goes to the production server.
    let settings: Vec<(&str, String)> = vec![
        ("BACKUP_STORE_URL", "s3://backups/mt5".into()),
        ("BACKUP_S3_ENDPOINT", s3.endpoint.clone()),
        ("BACKUP_S3_REGION", "us-east-1".into()),
        ("BACKUP_S3_KEY", ACCESS_KEY.into()),
        ("BACKUP_S3_SECRET", SECRET_KEY.into()),
        (
            "BACKUP_ENCRYPTION_KEY_FILE",
            dir.join("secrets/backup.key").display().to_string(),
        ),
        ("DATABASE_URL", cluster.url("app")),
        ("SUPABASE_PROJECT_REF", PROJECT_REF.into()),
        ("SUPABASE_ACCESS_TOKEN", SUPABASE_TOKEN.into()),
        ("SUPABASE_API_URL", supabase.url.clone()),
        ("APP_DIR", dir.join("app").display().to_string()),
        ("HEALTH_URL", service.url.clone()),
        ("VPS_PROVIDER", "hetzner".into()),
        ("HETZNER_TOKEN", HETZNER_TOKEN.into()),
        ("HETZNER_SERVER", SERVER_ID.to_string()),
        ("HETZNER_API_URL", hetzner.url.clone()),
        ("QEMU_IMAGE", "vm/disk.qcow2".into()),
    ];
    t.put(".env", &dot_env(&example, &settings));
    let secrets = [
        KEY,
        SECRET_KEY,
        ACCESS_KEY,
        PASSWORD,
        SUPABASE_TOKEN,
        HETZNER_TOKEN,
        MT5_PASSWORD,
    ];

    // 2. The three backups, live, as scheduled (`--yes`: retention may delete).
    let (out, _) = run(
        &dir,
        &["run", "--yes", "runbooks/backup-database.rhai"],
        &[],
    );
    out.code(0)
        .stdout_has("4 tables, 345 rows, 7 policies")
        .stdout_has("Supabase platform backups are fresh");
    outputs.push(out);
    let (out, _) = run(
        &dir,
        &["run", "--yes", "runbooks/backup-app-data.rhai"],
        &[],
    );
    out.code(0).stdout_has("4 files");
    outputs.push(out);
    let (out, _) = run(&dir, &["run", "--yes", "runbooks/snapshot-vps.rhai"], &[]);
    out.code(0);
    outputs.push(out);
    // The same runbook for a local qcow2 image: the process environment wins over `.env`.
    let (out, _) = run(
        &dir,
        &["run", "--yes", "runbooks/snapshot-vps.rhai"],
        &[("VPS_PROVIDER", "qemu")],
    );
    out.code(0);
    outputs.push(out);

    assert_eq!(s3.complete_set_ids("database").len(), 1);
    assert_eq!(s3.complete_set_ids("app-data").len(), 1);
    for (path, bytes) in s3.snapshot() {
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(MT5_PASSWORD) && !text.contains("max_lot"),
            "{path} is stored in the clear"
        );
    }
    assert!(
        supabase.count("GET", "/database/backups") >= 1,
        "platform backups checked"
    );
    let snapshots = hetzner_snapshots(&hetzner);
    assert_eq!(snapshots.len(), 1, "one Hetzner snapshot of ours");
    assert_eq!(qemu_snapshots(&disk).len(), 1, "one qcow2 snapshot");

    // 3. The quarterly drill.
    let app_before = tree(&dir.join("app"));
    let store_before = s3.snapshot();
    let counts_before = production_counts(&cluster);
    let disk_before = std::fs::read(&disk).unwrap();
    let hetzner_writes_before = hetzner_writes(&hetzner);
    let checks_before = service.health_checks.load(Ordering::SeqCst);

    let (out, wall) = run(
        &dir,
        &[
            "drill",
            "runbooks/drill-quarterly-full.rhai",
            "--note",
            NOTE,
            "--operator",
            OPERATOR,
        ],
        &[],
    );
    out.code(0)
        .stdout_has("matches set")
        .stdout_has("dropped scratch database drill_")
        .stdout_has("RTO clock: recovery finished")
        .stderr_has("verdict met");
    outputs.push(out);

    // The drill log: one record, met, every step ok, real timings, the note.
    let log = std::fs::read_to_string(dir.join("docs/operations/drills.jsonl")).unwrap();
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{log}");
    let r = &records[0];
    assert_eq!(r["runbook"], "runbooks/drill-quarterly-full.rhai");
    assert_eq!(r["title"], "Quarterly full restore drill");
    assert_eq!(r["operator"], OPERATOR);
    assert_eq!(r["status"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["rto"], "2h");
    assert_eq!(r["verdict"], "met");
    assert_eq!(r["notes"], serde_json::json!([NOTE]));
    assert!(r["failed_step"].is_null() && r["error"].is_null(), "{r}");
    let steps = r["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    let scratch_db = names
        .iter()
        .find_map(|n| n.strip_prefix("Restore into scratch database "))
        .expect("the scratch restore step")
        .to_string();
    assert!(scratch_db.starts_with("drill_"), "{scratch_db}");
    assert_eq!(
        names,
        [
            "Find the database set",
            "Verify the database set",
            &format!("Restore into scratch database {scratch_db}"),
            "Compare the scratch database with the set",
            "Check the scratch database answers",
            "Compare production with the set (changes since the backup)",
            "Drop the scratch database",
            "Find the app-data set",
            "Verify every file's checksum, .env included",
            "Restore configuration and logs into the scratch folder",
            "Compare the configuration with the live APP_DIR",
            "Check the newest VPS snapshot",
            "Check the live service health",
        ]
    );
    assert!(steps.iter().all(|s| s["status"] == "ok"), "{r}");
    let step_ms: Vec<u64> = steps
        .iter()
        .map(|s| s["duration_ms"].as_u64().unwrap())
        .collect();
    let sum: u64 = step_ms.iter().sum();
    let max = *step_ms.iter().max().unwrap();
    let total = r["duration_ms"].as_u64().unwrap();
    eprintln!("drill: {total} ms in all, steps {step_ms:?} (sum {sum} ms), wall {wall:?}");
    assert!(max > 0 && total > 0, "{r}");
    // The steps ran one after the other inside the run, and the run inside the process.
    assert!(sum <= total, "steps {sum} ms > run {total} ms: {step_ms:?}");
    assert!(
        total <= wall.as_millis() as u64,
        "run {total} ms > {wall:?}"
    );
    assert!(
        total - sum <= 5_000,
        "the run spent {} ms outside its steps",
        total - sum
    );
    assert!(total < 2 * 3600 * 1000, "within the 2 h RTO");

    // The evidence folder: journal, report, record, checksums that verify.
    let evidence = dir.join(r["evidence"].as_str().unwrap());
    let mut evidence_files: Vec<String> = std::fs::read_dir(&evidence)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    evidence_files.sort();
    assert_eq!(
        evidence_files,
        [
            "checksums.sha256",
            "drill.json",
            "journal.jsonl",
            "report.md"
        ]
    );
    let sums = std::fs::read_to_string(evidence.join("checksums.sha256")).unwrap();
    let mut summed = Vec::new();
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(evidence.join(name)).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(&bytes)), "{name}");
        summed.push(name);
    }
    summed.sort();
    assert_eq!(summed, ["drill.json", "journal.jsonl", "report.md"]);
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(evidence.join("drill.json")).unwrap())
            .unwrap();
    assert_eq!(&record, r, "drill.json is the logged record");
    let report = std::fs::read_to_string(evidence.join("report.md")).unwrap();
    assert!(report.contains("| Verdict | **met** |"), "{report}");
    assert!(report.contains(&format!("- {NOTE}")), "{report}");
    assert!(
        report.contains("| 13 | Check the live service health | ok |"),
        "{report}"
    );
    let journal = std::fs::read_to_string(evidence.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"run_end\""));

    // Scratch targets only: the scratch database is gone, production is as it was.
    assert_eq!(
        cluster.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'drill\\_%'"
        ),
        "0"
    );
    assert!(!cluster.has_database(&scratch_db));
    assert_eq!(production_counts(&cluster), counts_before);
    assert_eq!(production_counts(&cluster), "3,300,2,40,7");
    assert_eq!(tree(&dir.join("app")), app_before, "APP_DIR unchanged");
    assert_eq!(s3.snapshot(), store_before, "the store unchanged");
    assert_eq!(std::fs::read(&disk).unwrap(), disk_before);
    assert_eq!(hetzner_writes(&hetzner), hetzner_writes_before);
    assert_eq!(hetzner_snapshots(&hetzner), snapshots);
    assert!(
        service.health_checks.load(Ordering::SeqCst) > checks_before,
        "the drill checked the service's health"
    );
    // The configuration and logs came back into the scratch folder; `.env` never did.
    let run_id = r["run_id"].as_str().unwrap();
    let scratch = dir.join(format!("out/drill/{run_id}/app-data"));
    assert_eq!(
        std::fs::read_to_string(scratch.join("config/risk.toml")).unwrap(),
        "max_lot = 2.5\n"
    );
    assert!(scratch.join("logs/today.log").is_file());
    assert!(!scratch.join("logs/old.log").exists(), "older than 7 days");
    assert!(!scratch.join(".env").exists());

    // 4. The playbook, regenerated with that drill.
    let (out, _) = run(
        &dir,
        &["doc", "runbooks/", "-o", "docs/operations/dr-playbook.md"],
        &[],
    );
    out.code(0).stdout_has("1 drill(s)");
    outputs.push(out);
    let playbook = std::fs::read_to_string(dir.join("docs/operations/dr-playbook.md")).unwrap();
    let started = r["started"].as_str().unwrap();
    let history = &playbook[playbook.find("## Drill history").unwrap()..];
    let line = row(
        history,
        &format!(
            "| {} | Quarterly full restore drill |",
            started[..16].replace('T', " ")
        ),
    );
    assert_eq!(
        line,
        format!(
            "| {} | Quarterly full restore drill | {OPERATOR} | {} | 2h | **met** | ok | — | {NOTE} | `{}` |",
            started[..16].replace('T', " "),
            format_duration_ms(total),
            r["evidence"].as_str().unwrap()
        )
    );
    let schedule = &playbook[playbook.find("## Drill schedule").unwrap()..];
    let line = row(schedule, "| Quarterly full restore drill |");
    assert!(
        line.starts_with(&format!(
            "| Quarterly full restore drill | `runbooks/drill-quarterly-full.rhai` | `0 6 1 1,4,7,10 *` | {} (met) |",
            &started[..10]
        )),
        "{line}"
    );
    let (out, _) = run(
        &dir,
        &[
            "doc",
            "runbooks/",
            "-o",
            "docs/operations/dr-playbook.md",
            "--check",
        ],
        &[],
    );
    out.code(0);
    outputs.push(out);

    // 5. No secret anywhere: output, drill log, evidence, playbook, journals, scratch copies.
    for out in &outputs {
        for secret in secrets {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "output shows a secret\n{out}"
            );
        }
    }
    let mut files = files_below(&dir.join("docs"));
    files.extend(files_below(&dir.join(".runbook")));
    files.extend(files_below(&dir.join("out")));
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets {
            assert!(!text.contains(secret), "{} holds a secret", file.display());
        }
    }

    eprintln!("end to end in {:.1?}", clock.elapsed());
}
