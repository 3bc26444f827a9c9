//! The shipped procedures (`runbooks/*.rhai` with the `stdlib/` modules) run for real against
//! local stand-ins: a `file://` store in a temp folder, a throw-away Postgres cluster with the
//! trading fixture, the Supabase Management API double, a real qcow2 image (`qemu-img`), and a
//! tiny HTTP server with a `/health` endpoint. Also: every runbook passes `runbook check`,
//! `runbook init` writes a project that passes it too and never overwrites a file, and
//! `.env.example` documents every variable the runbooks read.

#[path = "support/http_double.rs"]
mod http_double;
#[path = "support/postgres.rs"]
mod postgres;
mod support;

#[path = "support/contabo_double.rs"]
mod contabo_double;
#[path = "support/hetzner_double.rs"]
mod hetzner_double;
#[path = "support/supabase_double.rs"]
mod supabase_double;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration as ChronoDuration;
use contabo_double::{ContaboDouble, INSTANCE_ID};
use hetzner_double::{HetznerDouble, SERVER_ID};
use http_double::{HttpDouble, Reply};
use postgres::{fixture_cluster, Cluster, PASSWORD};
use supabase_double::{SupabaseDouble, PROJECT_REF};
use support::{binary, qemu_image, qemu_snapshots, repo, tree, Output, Test};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const TOKEN: &str = "sbp_0123456789abcdef0123456789abcdef01234567";

/// The shipped runbooks (every `runbooks/*.rhai`).
fn shipped() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("runbooks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".rhai"))
        .map(|n| format!("runbooks/{n}"))
        .collect();
    names.sort();
    names
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// A project holding every shipped runbook, an app folder (`app/` with `.env`, config and
/// logs), a file store (`store/`) and the backup key.
fn project() -> Test {
    let mut t = Test::new();
    for name in shipped() {
        t = t.repo_file(&name);
    }
    let store = t.path().join("store").display().to_string();
    let app = t.path().join("app").display().to_string();
    t.file("app/.env", "MT5_LOGIN=12345678\nMT5_PASSWORD=hunter2-mt5\n")
        .file("app/config/service.json", r#"{ "symbols": ["EURUSD"] }"#)
        .file("app/config/risk.toml", "max_lot = 2.5\n")
        .file("app/logs/today.log", "fill ok\n")
        .file("app/logs/old.log", "last month\n")
        .env("BACKUP_STORE_URL", &store)
        .env("BACKUP_ENCRYPTION_KEY", KEY)
        .env("APP_DIR", &app)
}

/// Makes `app/logs/old.log` 10 days old.
fn age_old_log(t: &Test) {
    let old = filetime::FileTime::from_unix_time(chrono::Utc::now().timestamp() - 10 * 86400, 0);
    filetime::set_file_mtime(t.path().join("app/logs/old.log"), old).unwrap();
}

fn with_database(t: Test, cluster: &Cluster) -> Test {
    t.env("DATABASE_URL", &cluster.url("app"))
        .env("DATABASE_DUMP_SUPABASE", "false")
}

fn with_supabase(t: Test, double: &SupabaseDouble) -> Test {
    t.env("SUPABASE_PROJECT_REF", PROJECT_REF)
        .env("SUPABASE_ACCESS_TOKEN", TOKEN)
        .env("SUPABASE_API_URL", &double.url)
}

fn databases(cluster: &Cluster) -> String {
    cluster.psql(
        "postgres",
        "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE NOT datistemplate",
    )
}

// ---------------------------------------------------------------------------------------------
// Check, init, .env.example

#[test]
fn every_shipped_runbook_passes_check() {
    let mut args = vec!["check".to_string()];
    args.extend(shipped());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_in(&repo(), &args);
    out.code(0);
    for name in shipped() {
        out.stdout_has(&format!("ok   {name}"));
    }
    assert!(shipped().len() >= 11, "{:?}", shipped());
}

#[test]
fn init_writes_a_project_that_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("ops");
    run_in(dir.path(), &["init", "ops"])
        .code(0)
        .stdout_has("runbooks/restore-full.rhai");
    for file in ["runbook.toml", ".env.example", "runbooks/README.md"] {
        assert!(target.join(file).is_file(), "{file}");
    }
    for name in shipped() {
        assert_eq!(
            std::fs::read_to_string(target.join(&name)).unwrap(),
            std::fs::read_to_string(repo().join(&name)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(target.join(".env.example")).unwrap(),
        std::fs::read_to_string(repo().join(".env.example")).unwrap()
    );
    let mut args = vec!["check".to_string()];
    args.extend(shipped());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_in(&target, &args).code(0);
    run_in(&target, &["list"])
        .code(0)
        .stdout_has("0 2 * * *")
        .stdout_has("0 3 * * 0");
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("runbooks")).unwrap();
    std::fs::write(dir.path().join("runbooks/verify-rpo.rhai"), "// mine").unwrap();
    let out = run_in(dir.path(), &["init"]);
    out.code(2);
    assert!(
        out.stderr.contains("verify-rpo.rhai") && out.stderr.contains("nothing was written"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("runbooks/verify-rpo.rhai")).unwrap(),
        "// mine"
    );
    let left: Vec<_> = walkdir::WalkDir::new(dir.path())
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .collect();
    assert_eq!(left.len(), 2, "only the folder and my file: {left:?}");
}

/// The names a script reads with `env("X"...)`, `secret("X")` or the config module's helpers
/// that take a variable name.
fn variables_read(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for call in [
        "env(\"",
        "secret(\"",
        "is_set(\"",
        "optional_secret(\"",
        "open_database(\"",
    ] {
        let mut rest = text;
        while let Some(i) = rest.find(call) {
            let start = i + call.len();
            let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric();
            let name: String = rest[start..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if boundary && !name.is_empty() && rest[start + name.len()..].starts_with('"') {
                names.insert(name);
            }
            rest = &rest[start..];
        }
    }
    names
}

#[test]
fn env_example_documents_every_variable_the_runbooks_read() {
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    let documented: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_string()))
        .collect();
    let mut files: Vec<PathBuf> = shipped().iter().map(|n| repo().join(n)).collect();
    for entry in std::fs::read_dir(repo().join("stdlib")).unwrap() {
        files.push(entry.unwrap().path());
    }
    let mut read = BTreeSet::new();
    for file in &files {
        read.extend(variables_read(&std::fs::read_to_string(file).unwrap()));
    }
    for expected in [
        "BACKUP_STORE_URL",
        "BACKUP_ENCRYPTION_KEY",
        "DATABASE_URL",
        "SUPABASE_PROJECT_REF",
        "SUPABASE_ACCESS_TOKEN",
        "APP_DIR",
        "HEALTH_URL",
        "VPS_PROVIDER",
        "HETZNER_TOKEN",
        "DRILL_DATABASE_URL",
    ] {
        assert!(read.contains(expected), "the parser missed {expected}");
    }
    // `NAME_FILE` is the documented file form of the secret `NAME`.
    let read: BTreeSet<String> = read
        .into_iter()
        .map(|n| match n.strip_suffix("_FILE") {
            Some(base) => base.to_string(),
            None => n,
        })
        .collect();
    let undocumented: Vec<&String> = read.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "not in .env.example: {undocumented:?}"
    );
    let unused: Vec<&String> = documented.difference(&read).collect();
    assert!(unused.is_empty(), "documented but never read: {unused:?}");
}

// ---------------------------------------------------------------------------------------------
// Application data

#[test]
fn app_data_backup_then_restore_brings_the_files_back() {
    let health = HttpDouble::start(Reply::new(200, r#"{"status":"ok"}"#));
    let t = project().env("HEALTH_URL", &health.url("/health"));
    age_old_log(&t);
    t.again(&["run", "--dry-run", "runbooks/backup-app-data.rhai"])
        .code(0)
        .stdout_has("would back up 4 files");
    assert!(
        !t.path().join("store").exists(),
        "the dry-run wrote nothing"
    );
    t.again(&["run", "runbooks/backup-app-data.rhai"])
        .code(0)
        .stdout_has("4 files");
    let store = t.path().join("store/app-data");
    let sets: Vec<_> = std::fs::read_dir(&store).unwrap().collect();
    assert_eq!(sets.len(), 1);
    // The secret in .env is stored encrypted, never in the clear.
    for (path, bytes) in tree(&store) {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("hunter2-mt5"),
            "{path}"
        );
    }

    t.put("app/config/service.json", "broken");
    std::fs::remove_file(t.path().join("app/.env")).unwrap();
    let before = tree(&t.path().join("app"));
    t.again(&["run", "--dry-run", "runbooks/restore-app-data.rhai"])
        .code(0)
        .stdout_has("restore 4 files");
    assert_eq!(
        tree(&t.path().join("app")),
        before,
        "the dry-run changed nothing"
    );
    // Replacing files is destructive: without a terminal and without --yes it stops.
    t.again(&["run", "runbooks/restore-app-data.rhai"])
        .code(2)
        .stderr_has("confirmation needed");
    t.again(&["run", "--yes", "runbooks/restore-app-data.rhai"])
        .code(0)
        .stdout_has("RTO clock: recovery finished");
    assert_eq!(
        std::fs::read_to_string(t.path().join("app/config/service.json")).unwrap(),
        r#"{ "symbols": ["EURUSD"] }"#
    );
    assert!(std::fs::read_to_string(t.path().join("app/.env"))
        .unwrap()
        .contains("MT5_LOGIN"));
    assert!(
        !health.requests().is_empty(),
        "the health endpoint was checked"
    );
}

// ---------------------------------------------------------------------------------------------
// Database: backup, platform backups, RPO, restore, drill

#[test]
fn database_backup_restore_and_monthly_drill_against_a_real_cluster() {
    let cluster = fixture_cluster();
    let t = with_database(project(), &cluster);

    t.again(&["run", "--dry-run", "runbooks/backup-database.rhai"])
        .code(0)
        .stdout_has("would dump");
    assert!(
        !t.path().join("store").exists(),
        "the dry-run wrote nothing"
    );
    let out = t.again(&["run", "runbooks/backup-database.rhai"]);
    out.code(0)
        .stdout_has("4 tables, 345 rows, 7 policies")
        .stderr_has("SUPABASE_PROJECT_REF is not set");
    for (_, journal) in t.journals() {
        assert!(!journal.contains(PASSWORD));
    }
    assert!(!out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD));

    // Restore into another database of the server, verified against the manifest.
    t.again(&[
        "run",
        "runbooks/restore-database.rhai",
        "--param",
        "target_db=restored",
    ])
    .code(0)
    .stdout_has("restored 4 tables, 345 rows into restored, verified: true");
    assert_eq!(
        cluster.psql("restored", "SELECT count(*) FROM app.trades"),
        "300"
    );

    // The monthly drill: scratch database restored, compared, dropped.
    let out = t.again(&["run", "runbooks/drill-monthly-database.rhai"]);
    out.code(0)
        .stdout_has("matches set")
        .stdout_has("dropped scratch database drill_");
    assert_eq!(databases(&cluster), "app,postgres,restored");
}

#[test]
fn stale_supabase_platform_backups_make_backup_and_verify_rpo_exit_3() {
    let cluster = fixture_cluster();
    let double = SupabaseDouble::start(TOKEN);
    double.add_backup(ChronoDuration::hours(25), "COMPLETED", Some(1));
    let t = with_supabase(with_database(project(), &cluster), &double);

    // Our own dump succeeds and is kept; the stale platform backup is a missed target.
    let out = t.again(&["run", "runbooks/backup-database.rhai"]);
    out.code(3)
        .stderr_has("Supabase platform backups are stale");
    assert_eq!(
        std::fs::read_dir(t.path().join("store/database"))
            .unwrap()
            .count(),
        1
    );
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    t.again(&["run", "runbooks/backup-app-data.rhai"]).code(0);

    t.again(&["run", "runbooks/verify-rpo.rhai"])
        .code(3)
        .stderr_has("Supabase platform backups");

    // A fresh platform backup: every newest backup is within its RPO.
    double.add_backup(ChronoDuration::hours(2), "COMPLETED", Some(2));
    t.again(&["run", "runbooks/verify-rpo.rhai"])
        .code(0)
        .stdout_has("every newest backup is within its RPO");
    // The same sets against a tiny RPO are too old.
    t.again(&[
        "run",
        "runbooks/verify-rpo.rhai",
        "--param",
        "database_rpo=0s",
    ])
    .code(3)
    .stderr_has("the newest database set");
}

#[test]
fn verify_rpo_exits_3_when_there_is_no_backup_at_all() {
    let t = project();
    t.again(&["run", "runbooks/verify-rpo.rhai"])
        .code(3)
        .stderr_has("there is no database set")
        .stderr_has("there is no app-data set");
}

// ---------------------------------------------------------------------------------------------
// VPS

#[test]
fn weekly_snapshot_keeps_four_and_restore_vps_applies_the_newest() {
    let t = project().env("VPS_PROVIDER", "qemu");
    let disk = qemu_image(&t);
    let t = t.env("QEMU_IMAGE", &disk.display().to_string());
    t.again(&["run", "--dry-run", "runbooks/snapshot-vps.rhai"])
        .code(0)
        .stdout_has("would take a snapshot");
    assert!(qemu_snapshots(&disk).is_empty(), "the dry-run took none");
    // The effect gate asks before pruning: a scheduled run passes --yes.
    for _ in 0..5 {
        t.again(&["run", "--yes", "runbooks/snapshot-vps.rhai"])
            .code(0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let snaps = qemu_snapshots(&disk);
    assert_eq!(snaps.len(), 4, "{snaps:?}");
    let before = std::fs::read(&disk).unwrap();
    t.again(&["run", "--dry-run", "runbooks/restore-vps.rhai"])
        .code(0)
        .stdout_has("apply snapshot");
    assert_eq!(
        std::fs::read(&disk).unwrap(),
        before,
        "dry-run changed nothing"
    );
    t.again(&["run", "--yes", "runbooks/restore-vps.rhai"])
        .code(0)
        .stdout_has("RTO clock: VPS restored");
}

// ---------------------------------------------------------------------------------------------
// The full restore and the quarterly drill

/// Everything configured: database, app data with sets in the store, a qemu VPS with a
/// snapshot, and a healthy service.
struct Everything {
    t: Test,
    cluster: Cluster,
    disk: PathBuf,
    _health: HttpDouble,
}

fn everything() -> Everything {
    let cluster = fixture_cluster();
    let health = HttpDouble::start(Reply::new(200, "ok"));
    let t = with_database(project(), &cluster)
        .env("HEALTH_URL", &health.url("/health"))
        .env("VPS_PROVIDER", "qemu");
    let disk = qemu_image(&t);
    let t = t.env("QEMU_IMAGE", &disk.display().to_string());
    age_old_log(&t);
    t.again(&["run", "runbooks/backup-database.rhai"]).code(0);
    t.again(&["run", "runbooks/backup-app-data.rhai"]).code(0);
    t.again(&["run", "--yes", "runbooks/snapshot-vps.rhai"])
        .code(0);
    Everything {
        t,
        cluster,
        disk,
        _health: health,
    }
}

#[test]
fn restore_full_dry_run_prints_the_whole_plan_in_order_and_changes_nothing() {
    let e = everything();
    let store_before = tree(&e.t.path().join("store"));
    let app_before = tree(&e.t.path().join("app"));
    let disk_before = std::fs::read(&e.disk).unwrap();
    let dbs_before = databases(&e.cluster);
    let rows_before = e.cluster.psql("app", "SELECT count(*) FROM app.trades");

    let out =
        e.t.again(&["run", "--dry-run", "runbooks/restore-full.rhai"]);
    out.code(0);
    let plan = &out.stdout;
    let vps = plan.find("apply snapshot").expect("VPS restore planned");
    let db = plan
        .find("replace the objects of set")
        .expect("database restore planned");
    let files = plan.find("restore 4 files").expect("app data planned");
    assert!(vps < db && db < files, "ordered plan:\n{plan}");
    out.stdout_has("RTO clock: VPS restored")
        .stdout_has("RTO clock: database restored")
        .stdout_has("RTO clock: application data restored")
        .stdout_has("Validate health");

    assert_eq!(tree(&e.t.path().join("store")), store_before);
    assert_eq!(tree(&e.t.path().join("app")), app_before);
    assert_eq!(std::fs::read(&e.disk).unwrap(), disk_before);
    assert_eq!(databases(&e.cluster), dbs_before);
    assert_eq!(
        e.cluster.psql("app", "SELECT count(*) FROM app.trades"),
        rows_before
    );

    // Live, confirmed: VPS, database and app data come back and the service is healthy.
    e.cluster.psql("app", "DELETE FROM public.audit_log");
    e.t.put("app/config/risk.toml", "max_lot = 99\n");
    e.t.again(&["run", "--yes", "runbooks/restore-full.rhai"])
        .code(0)
        .stdout_has("RTO clock: recovery finished");
    assert_eq!(
        e.cluster
            .psql("app", "SELECT count(*) FROM public.audit_log"),
        "40"
    );
    assert_eq!(
        std::fs::read_to_string(e.t.path().join("app/config/risk.toml")).unwrap(),
        "max_lot = 2.5\n"
    );
}

#[test]
fn quarterly_drill_rehearses_everything_in_scratch_targets() {
    let e = everything();
    e.t.put("app/config/risk.toml", "max_lot = 3\n");
    let app_before = tree(&e.t.path().join("app"));
    let out = e.t.again(&["run", "runbooks/drill-quarterly-full.rhai"]);
    out.code(0)
        .stdout_has("matches set")
        .stdout_has("dropped scratch database drill_")
        .stderr_has("configuration changed since")
        .stderr_has("risk.toml");
    assert_eq!(databases(&e.cluster), "app,postgres");
    assert_eq!(tree(&e.t.path().join("app")), app_before);
    // The scratch copy holds configuration and logs, never the secrets in .env.
    let scratch: Vec<String> = tree(&e.t.path().join("out/drill"))
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert!(scratch.iter().any(|p| p.ends_with("config/risk.toml")));
    assert!(!scratch.iter().any(|p| p.ends_with(".env")), "{scratch:?}");
}

#[test]
fn a_failed_scheduled_run_alerts_the_webhook_without_showing_it() {
    let webhook = HttpDouble::start(Reply::new(200, "ok"));
    let url = webhook.url("/hooks/T000/B000/XXXXSECRET");
    let t = project().env("ALERT_WEBHOOK_URL", &url);
    let out = t.again(&["run", "runbooks/verify-rpo.rhai"]);
    out.code(3);
    let requests = webhook.requests();
    assert_eq!(requests.len(), 1, "{out}");
    assert!(
        requests[0].text().contains("Verify the RPO failed"),
        "{}",
        requests[0].text()
    );
    assert!(!out.stdout.contains("XXXXSECRET") && !out.stderr.contains("XXXXSECRET"));
}

#[test]
fn weekly_snapshot_through_the_hetzner_and_contabo_apis() {
    let token = "hcloud-token-0123456789";
    let hetzner = HetznerDouble::start(token);
    let t = project()
        .env("VPS_PROVIDER", "hetzner")
        .env("HETZNER_TOKEN", token)
        .env("HETZNER_SERVER", &SERVER_ID.to_string())
        .env("HETZNER_API_URL", &hetzner.url);
    let out = t.again(&["run", "--yes", "runbooks/snapshot-vps.rhai"]);
    out.code(0);
    assert!(
        hetzner.count("POST", "/servers/42/actions/create_image") >= 1,
        "{out}"
    );
    assert!(!out.stdout.contains(token) && !out.stderr.contains(token));

    let contabo = ContaboDouble::start("cid", "csecret-xyz", "ops@example.com", "api-pass-xyz");
    let t = project()
        .env("VPS_PROVIDER", "contabo")
        .env("CONTABO_CLIENT_ID", "cid")
        .env("CONTABO_CLIENT_SECRET", "csecret-xyz")
        .env("CONTABO_USER", "ops@example.com")
        .env("CONTABO_PASSWORD", "api-pass-xyz")
        .env("CONTABO_INSTANCE", &INSTANCE_ID.to_string())
        .env("CONTABO_API_URL", &contabo.url)
        .env("CONTABO_AUTH_URL", &contabo.auth_url);
    let out = t.again(&["run", "--yes", "runbooks/snapshot-vps.rhai"]);
    out.code(0);
    assert_eq!(contabo.names().len(), 1, "{out}");
    assert!(!out.stdout.contains("api-pass-xyz") && !out.stderr.contains("csecret-xyz"));
}

/// The committed playbook is what `runbook doc` makes from the shipped runbooks: changing a
/// runbook without regenerating it fails here.
#[test]
fn the_committed_playbook_is_current() {
    let out = std::process::Command::new(support::binary())
        .args([
            "doc",
            "runbooks/",
            "-o",
            "docs/operations/dr-playbook.md",
            "--check",
        ])
        .current_dir(support::repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docs/operations/dr-playbook.md is stale; run `runbook doc runbooks/ -o docs/operations/dr-playbook.md`:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
