//! Encrypted file backups end to end: the quickstart, backup/list/find/verify/restore through
//! scripts, dry-runs, wrong keys, corrupted and incomplete sets, and the CLI for a bad day.

mod support;

use std::path::{Path, PathBuf};

use support::{repo, Test};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxwdHh8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRo=";

const BACKUP: &str = r#"
runbook(#{ title: "Back up app", params: #{ compression: "zstd" } });
let key = key(secret("BACKUP_ENCRYPTION_KEY"));
let store = storage("store");
let source = archive(#{ root: "app", paths: [".env", "config"],
                        logs: #{ dir: "logs", newer_than: "7d", pattern: "*.log" } });
let set = step("Back up", || store.backup("app-data", source, key, #{ compression: param("compression") }));
log(`made ${set.id} files=${set.files} bytes=${set.bytes}`);
"#;

const RESTORE: &str = r#"
runbook(#{ title: "Restore app", params: #{ set: "latest", target: "target" } });
let key = key(secret("BACKUP_ENCRYPTION_KEY"));
let store = storage("store");
let set = step("Find", || store.find("app-data", param("set")));
step("Verify", || store.verify(set, key));
let r = step("Restore", || store.restore_files(set, key, param("target")));
log(`restored files=${r.files} replaced=${r.replaced}`);
"#;

fn project() -> Test {
    let t = Test::new()
        .file("app/.env", "API_TOKEN_REF=vault:mt5\n")
        .file("app/config/service.json", "{\"symbols\":[\"EURUSD\"]}\n")
        .file("app/config/nested/limits.toml", "max = 3\n")
        .file("app/logs/today.log", &"INFO fill ok\n".repeat(5000))
        .file("app/logs/old.log", "ancient\n")
        .file("app/logs/notes.txt", "not a log\n")
        .file("backup.rhai", BACKUP)
        .file("restore.rhai", RESTORE)
        .env("BACKUP_ENCRYPTION_KEY", KEY);
    let old = filetime::FileTime::from_unix_time(1_000_000_000, 0);
    filetime::set_file_mtime(t.path().join("app/logs/old.log"), old).unwrap();
    t
}

fn set_dirs(t: &Test) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(t.path().join("store/app-data"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn object_of(set: &Path) -> PathBuf {
    std::fs::read_dir(set)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "rbk"))
        .expect("an encrypted object")
}

fn tree_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .display()
            .to_string();
        let data = if entry.file_type().is_file() {
            std::fs::read(entry.path()).unwrap()
        } else {
            Vec::new()
        };
        out.push((rel, data));
    }
    out
}

#[test]
fn the_quickstart_backs_up_restores_and_verifies_byte_for_byte() {
    Test::new()
        .repo_file("runbooks/quickstart.rhai")
        .args(&["run", "runbooks/quickstart.rhai"])
        .run()
        .code(0)
        .stdout_has("✓ Verify the set")
        .stdout_has("✓ Compare with the source")
        .stdout_has("identical: 3 files");
}

#[test]
fn backup_selects_recent_logs_and_restore_puts_everything_back_keeping_replaced_files() {
    let t = project();
    t.again(&["run", "backup.rhai"])
        .code(0)
        .stdout_has("files=4");
    let sets = set_dirs(&t);
    assert_eq!(sets.len(), 1);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(sets[0].join("manifest.json")).unwrap()).unwrap();
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"logs/today.log"));
    assert!(!paths.contains(&"logs/old.log"), "older than 7 days");
    assert!(!paths.contains(&"logs/notes.txt"), "not *.log");
    assert_eq!(manifest["key_id"].as_str().unwrap().len(), 16);
    let manifest_text = std::fs::read_to_string(sets[0].join("manifest.json")).unwrap();
    assert!(!manifest_text.contains(KEY));

    // A target with an outdated .env and an unrelated file.
    let t = t
        .file("target/.env", "OUTDATED=1\n")
        .file("target/unrelated.bin", "keep me");
    t.again(&["run", "restore.rhai", "--yes"])
        .code(0)
        .stdout_has("restored files=4 replaced=1");
    assert_eq!(
        std::fs::read_to_string(t.path().join("target/.env")).unwrap(),
        "API_TOKEN_REF=vault:mt5\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("target/unrelated.bin")).unwrap(),
        "keep me"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("target.pre-restore-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "replaced files are kept aside");
    assert_eq!(
        std::fs::read_to_string(aside[0].join(".env")).unwrap(),
        "OUTDATED=1\n"
    );
    assert_eq!(
        std::fs::read(t.path().join("target/logs/today.log")).unwrap(),
        std::fs::read(t.path().join("app/logs/today.log")).unwrap()
    );
}

#[test]
fn gzip_works_too_and_sets_list_oldest_first_with_latest_newest() {
    let t = project();
    t.again(&["run", "backup.rhai", "--param", "compression=gzip"])
        .code(0);
    t.again(&["run", "backup.rhai"]).code(0);
    let sets = set_dirs(&t);
    assert_eq!(sets.len(), 2);
    assert!(object_of(&sets[0])
        .to_string_lossy()
        .ends_with(".tar.gz.rbk"));
    t.file(
        "list.rhai",
        r#"runbook(#{ title: "L" }); let s = storage("store");
           for set in s.list("app-data") { log(`set ${set.id} ${set.complete}`); }
           log(`latest ${s.latest("app-data").id}`);"#,
    )
    .again(&["run", "list.rhai"])
    .code(0)
    .stdout_has(&format!(
        "latest {}",
        sets[1].file_name().unwrap().to_string_lossy()
    ));
}

#[test]
fn gzip_and_uncompressed_sets_verify_and_restore_byte_for_byte() {
    for compression in ["gzip", "none"] {
        let t = project();
        t.again(&[
            "run",
            "backup.rhai",
            "--param",
            &format!("compression={compression}"),
        ])
        .code(0);
        let target = format!("restored-{compression}");
        t.again(&[
            "run",
            "restore.rhai",
            "--param",
            &format!("target={target}"),
        ])
        .code(0)
        .stdout_has("restored files=4 replaced=0");
        let restored = t.path().join(&target);
        for file in [
            ".env",
            "config/service.json",
            "config/nested/limits.toml",
            "logs/today.log",
        ] {
            assert_eq!(
                std::fs::read(restored.join(file)).unwrap(),
                std::fs::read(t.path().join("app").join(file)).unwrap(),
                "{compression}: {file}"
            );
        }
    }
}

#[test]
fn an_incomplete_set_is_listed_but_never_latest() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let good = set_dirs(&t)[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let t = t.file(
        "store/app-data/2099-01-01T000000Z-crashed/data.tar.zst.rbk",
        "partial",
    );
    t.file(
        "list.rhai",
        r#"runbook(#{ title: "L" }); let s = storage("store");
           for set in s.list("app-data") { log(`set ${set.id} complete=${set.complete}`); }
           log(`latest ${s.latest("app-data").id}`);
           s.find("app-data", "2099-01-01T000000Z-crashed");"#,
    )
    .again(&["run", "list.rhai"])
    .code(1)
    .stdout_has("set 2099-01-01T000000Z-crashed complete=false")
    .stdout_has(&format!("latest {good}"))
    .stderr_has("is incomplete (no manifest)");
}

#[test]
fn dry_runs_of_backup_and_restore_report_counts_and_write_nothing() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let t = t.file("target/.env", "OUTDATED=1\n");
    let before = t.tree();
    t.again(&["run", "--dry-run", "backup.rhai"])
        .code(0)
        .stdout_has("would back up 4 files");
    t.again(&["run", "--dry-run", "restore.rhai"])
        .code(0)
        .stdout_has("would restore 4 files")
        .stdout_has("replacing 1 existing (kept aside)")
        .stdout_has("[destructive");
    assert_eq!(before, t.tree(), "dry-runs must not write");
}

#[test]
fn a_wrong_key_is_named_as_such_with_key_ids_and_nothing_is_restored() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let t = t.file("target/.env", "OUTDATED=1\n");
    let before = tree_of(&t.path().join("target"));
    let t = t
        .file(
            "r2.rhai",
            &RESTORE.replace("secret(\"BACKUP_ENCRYPTION_KEY\")", "secret(\"OTHER\")"),
        )
        .env("OTHER", OTHER_KEY);
    t.again(&["run", "r2.rhai", "--yes"])
        .code(1)
        .stderr_has("wrong key")
        .stderr_has("key id");
    assert_eq!(before, tree_of(&t.path().join("target")));
}

#[test]
fn a_configured_but_unusable_key_is_an_error_not_a_plaintext_backup() {
    let t = project().env("BACKUP_ENCRYPTION_KEY", "not-a-key");
    t.again(&["run", "backup.rhai"])
        .code(2)
        .stderr_has("secret BACKUP_ENCRYPTION_KEY")
        .stderr_has("neither base64 nor 64 hex");
    assert!(set_dirs(&t).is_empty());
}

#[test]
fn corruption_is_found_by_verify_and_stops_restore_with_the_target_untouched() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let set = set_dirs(&t)[0].clone();
    let object = object_of(&set);
    let mut data = std::fs::read(&object).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0x40;
    std::fs::write(&object, data).unwrap();
    let t = t.file("target/.env", "OUTDATED=1\n");
    let before = tree_of(&t.path().join("target"));
    let out = t.again(&["run", "restore.rhai", "--yes"]);
    out.code(1)
        .stderr_has("is corrupted")
        .stderr_has(&set.file_name().unwrap().to_string_lossy());
    assert_eq!(before, tree_of(&t.path().join("target")));
    let leftovers: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("restore-staging") || n.contains("pre-restore"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_truncated_object_fails_verification() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let object = object_of(&set_dirs(&t)[0]);
    let data = std::fs::read(&object).unwrap();
    std::fs::write(&object, &data[..data.len() - 20]).unwrap();
    t.again(&["run", "restore.rhai", "--yes"]).code(1);
    assert!(!t.path().join("target").exists());
}

fn key_file(t: &Test, name: &str, key: &str) -> String {
    let path = t.path().join(name);
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path.display().to_string()
}

#[test]
fn the_cli_verifies_restores_and_decrypts_without_a_runbook() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let set = set_dirs(&t)[0].display().to_string();
    let key = key_file(&t, "backup.key", KEY);
    let other = key_file(&t, "other.key", OTHER_KEY);
    t.again(&["verify", &set, "--key-file", &key])
        .code(0)
        .stdout_has("4 files");
    t.again(&["verify", &set, "--key-file", &other])
        .code(1)
        .stderr_has("wrong key");
    t.again(&[
        "restore-files",
        &format!("file://{set}"),
        "cli-target",
        "--key-file",
        &other,
        "--key-file",
        &key,
    ])
    .code(0)
    .stdout_has("restored 4 files");
    assert!(t
        .path()
        .join("cli-target/config/nested/limits.toml")
        .exists());

    // Decrypt with the CLI, then read it with GNU zstd and tar: recoverable without runbook.
    let object = object_of(Path::new(&set));
    let plain = t.path().join("data.tar.zst");
    t.again(&[
        "decrypt",
        &object.display().to_string(),
        "--key-file",
        &key,
        "-o",
        &plain.display().to_string(),
    ])
    .code(0)
    .stderr_has("every segment verified");
    let listing = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("zstd -dc '{}' | tar -tf -", plain.display()))
        .output()
        .unwrap();
    assert!(listing.status.success());
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("logs/today.log"), "{listing}");
    assert!(listing.contains("config/nested/limits.toml"), "{listing}");
}

#[test]
fn cli_encrypt_then_decrypt_round_trips_and_a_bad_key_leaves_no_output() {
    let t = Test::new().file("dump.sql", &"INSERT INTO t VALUES (1);\n".repeat(100_000));
    let keygen = t.again(&["keygen"]);
    keygen.code(0);
    let generated = keygen.stdout.trim().to_string();
    assert_eq!(generated.len(), 44, "32 bytes in base64");
    let key = key_file(&t, "k", &generated);
    let other = key_file(&t, "o", OTHER_KEY);
    t.again(&["encrypt", "dump.sql", "--key-file", &key])
        .code(0);
    t.again(&[
        "decrypt",
        "dump.sql.rbk",
        "--key-file",
        &other,
        "-o",
        "wrong.sql",
    ])
    .code(1)
    .stderr_has("wrong key");
    assert!(!t.path().join("wrong.sql").exists());
    t.again(&[
        "decrypt",
        "dump.sql.rbk",
        "--key-file",
        &key,
        "-o",
        "back.sql",
    ])
    .code(0);
    assert_eq!(
        std::fs::read(t.path().join("back.sql")).unwrap(),
        std::fs::read(t.path().join("dump.sql")).unwrap()
    );
    let _ = repo();
}

/// Copies the one real set to `count` sets dated one day apart, ending at the real one.
fn age_sets(t: &Test, count: i64) -> Vec<String> {
    let real = set_dirs(t)[0].clone();
    let name = real.file_name().unwrap().to_string_lossy().to_string();
    let created = chrono::NaiveDateTime::parse_from_str(&name[..18], "%Y-%m-%dT%H%M%SZ").unwrap();
    let mut ids = Vec::new();
    for day in 1..count {
        let when = created - chrono::Duration::days(day);
        let id = format!("{}-oldhost", when.format("%Y-%m-%dT%H%M%SZ"));
        let dir = real.parent().unwrap().join(&id);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&real).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        ids.push(id);
    }
    ids
}

#[test]
fn prune_keeps_30_days_deletes_whole_older_sets_and_dry_run_shows_exactly_which() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let old = age_sets(&t, 45); // 45 sets: today and 44 older days
    let t = t.file(
        "prune.rhai",
        r#"runbook(#{ title: "Prune" }); let s = storage("store");
           let r = step("Prune", || s.prune("app-data", #{ keep_within: "30d" }));
           log(`deleted=${r.deleted.len()} kept=${r.kept.len()}`);
           let age = s.latest_age("app-data");
           log(`age_hours_below_1=${age.hours < 1.0}`);"#,
    );
    let before = t.tree();
    t.again(&["run", "--dry-run", "prune.rhai"])
        .code(0)
        .stdout_has("would delete 14 set(s) of \"app-data\"")
        .stdout_has(&old[43])
        .stdout_has("keep_within 30days")
        .stdout_has("newest complete set");
    assert_eq!(before, t.tree(), "a dry-run prune deletes nothing");
    t.again(&["run", "prune.rhai"])
        .code(2)
        .stderr_has("no terminal to ask on");
    assert_eq!(set_dirs(&t).len(), 45);
    t.again(&["run", "prune.rhai", "--yes"])
        .code(0)
        .stdout_has("deleted=14 kept=31")
        .stdout_has("age_hours_below_1=true");
    let left = set_dirs(&t);
    assert_eq!(left.len(), 31);
    assert!(
        !t.path().join("store/app-data").join(&old[43]).exists(),
        "whole set removed"
    );
}

#[test]
fn cleanup_incomplete_removes_only_old_unfinished_sets() {
    let t = project();
    t.again(&["run", "backup.rhai"]).code(0);
    let t = t
        .file(
            "store/app-data/2020-01-01T000000Z-crashed/data.tar.zst.rbk",
            "partial",
        )
        .file(
            "store/app-data/2099-01-01T000000Z-running/data.tar.zst.rbk",
            "partial",
        )
        .file(
            "cleanup.rhai",
            r#"runbook(#{ title: "Clean" }); let s = storage("store");
               log(`removed ${s.cleanup_incomplete("app-data", "1d")}`);"#,
        );
    t.again(&["run", "cleanup.rhai", "--yes"])
        .code(0)
        .stdout_has("removed [\"2020-01-01T000000Z-crashed\"]");
    assert!(!t
        .path()
        .join("store/app-data/2020-01-01T000000Z-crashed")
        .exists());
    assert!(t
        .path()
        .join("store/app-data/2099-01-01T000000Z-running")
        .exists());
    assert_eq!(set_dirs(&t).len(), 2);
}
