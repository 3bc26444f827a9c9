//! `runbook doc`: the playbook made from the runbooks (offline outlines: nothing runs, nothing
//! is read or written) and the drill log; `--check` for staleness; step options `fallback` and
//! `manual` in live runs.

mod support;

use support::Test;

const RESTORE: &str = r##"//! # Restore everything
//! Brings back the database and the application files, then checks health.
import "dbsteps" as db;

runbook(#{
    title: "Restore everything",
    owner: "DevOps lead",
    rto: "2h",
    rpo: "24h",
    params: #{
        target: #{ value: "/srv/mt5", doc: "where the application lives" },
        token: #{ secret: true, value: "param-secret-default", doc: "provider API token" },
    },
    contacts: [#{ role: "DevOps lead", name: "Ana", reach: "#ops on Slack" },
               #{ role: "Vendor support", name: "Hetzner", reach: "see 1Password: hetzner" }],
    escalation: ["On-call engineer", "DevOps lead", "CTO"],
});

let store = storage(env("BACKUP_STORE_URL"));
let key = key(secret("BACKUP_ENCRYPTION_KEY"));
let set = step("Find backup set", || store.find("app-data", "latest"));
log(`using ${set.id}`);
db::restore(store, key);
step("Restore files", #{ fallback: "runbook restore-files SET /srv/mt5 --key-file KEY (see docs/format.md)" },
     || store.restore_files(set, key, param("target")));
step("Health check", #{ timeout: "10m", manual: "Watch the MT5 terminal reconnect" },
     || http_check("http://127.0.0.1:1/health"));
"##;

const DBSTEPS: &str = r#"/// Restores the database from the newest dump.
fn restore(store, key) {
    step("Restore database", #{ fallback: "psql -f dump.sql against a new project" }, || {
        write_file("db-restored.txt", "yes");
    });
    step("Verify row counts", || 1);
}
"#;

const DRILL: &str = r#"//! # Quarterly restore drill
runbook(#{ title: "Quarterly restore drill", rto: "2h", schedule: "0 3 1 */3 *" });
step("Rehearse", || 1);
"#;

fn record(started: &str, runbook: &str, title: &str, verdict: &str, note: &str) -> String {
    serde_json::json!({
        "run_id": format!("{}-x", started), "operator": "ana", "host": "vps1",
        "started": started, "finished": started, "runbook": runbook, "title": title,
        "script_sha256": "00", "params": {}, "status": "ok", "exit_code": 0,
        "duration_ms": 4_200_000, "rto": "2h", "verdict": verdict,
        "steps": [], "failed_step": null, "error": null, "notes": [note],
        "evidence": "docs/operations/evidence/x", "tool_version": "0.1.0"
    })
    .to_string()
}

fn project() -> Test {
    Test::new()
        .file("runbooks/restore-full.rhai", RESTORE)
        .file("runbooks/drill-restore.rhai", DRILL)
        .file("runbooks/plain.rhai", r#"runbook(#{ title: "Plain" });"#)
        .file("stdlib/dbsteps.rhai", DBSTEPS)
        .file(
            "docs/operations/drills.jsonl",
            &format!(
                "{}\n{}\n",
                record(
                    "2026-09-01T03:00:00.000Z",
                    "runbooks/drill-restore.rhai",
                    "Quarterly restore drill",
                    "missed",
                    "older drill: DNS took 40 minutes"
                ),
                record(
                    "2026-12-01T03:00:00.000Z",
                    "runbooks/drill-restore.rhai",
                    "Quarterly restore drill",
                    "met",
                    "newer drill: all good"
                )
            ),
        )
}

fn playbook(t: &Test) -> String {
    std::fs::read_to_string(t.path().join("docs/operations/dr-playbook.md")).unwrap()
}

fn position(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("playbook lacks {needle:?}\n{text}"))
}

#[test]
fn the_playbook_shows_targets_purpose_params_steps_fallbacks_and_contacts() {
    let t = project();
    t.again(&["doc"])
        .code(0)
        .stdout_has("3 runbook(s), 2 drill(s)");
    let doc = playbook(&t);
    for needle in [
        "| [Restore everything](#restore-everything) | `runbooks/restore-full.rhai` | 24h | 2h |",
        "Brings back the database and the application files, then checks health.",
        "| `target` | `/srv/mt5` | where the application lives |",
        "| `token` | *secret* (value never shown) | provider API token |",
        "- Manual fallback: runbook restore-files SET /srv/mt5 --key-file KEY (see docs/format.md)",
        "- Manual fallback: psql -f dump.sql against a new project",
        "5. **Health check** (timeout 10m)\n   - Manual action: Watch the MT5 terminal reconnect",
        "| DevOps lead | Ana | #ops on Slack |",
        "| Vendor support | Hetzner | see 1Password: hetzner |",
        "1. On-call engineer\n2. DevOps lead\n3. CTO",
    ] {
        position(&doc, needle);
    }
    // Steps in order, the imported module's steps where the module function is called.
    let order: Vec<usize> = [
        "1. **Find backup set**",
        "2. **Restore database**",
        "3. **Verify row counts**",
        "4. **Restore files**",
        "5. **Health check**",
    ]
    .iter()
    .map(|s| position(&doc, s))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "steps out of order");
    assert!(!doc.contains("param-secret-default"), "secret value shown");
    assert!(!doc.contains("//!"), "doc comment markers dropped");
}

#[test]
fn the_playbook_has_the_drill_schedule_and_history_newest_first() {
    let t = project();
    t.again(&["doc"]).code(0);
    let doc = playbook(&t);
    position(
        &doc,
        "| Quarterly restore drill | `runbooks/drill-restore.rhai` | `0 3 1 */3 *` | 2026-12-01 (met) | 2027-01-01 03:00 |",
    );
    let history = &doc[position(&doc, "## Drill history")..];
    let newer = position(
        history,
        "| 2026-12-01 03:00 | Quarterly restore drill | ana | 1h 10m | 2h | **met** |",
    );
    let older = position(
        history,
        "| 2026-09-01 03:00 | Quarterly restore drill | ana | 1h 10m | 2h | **missed** |",
    );
    assert!(newer < older, "newest first");
    position(history, "newer drill: all good");
    let schedule = &doc[position(&doc, "## Drill schedule")..position(&doc, "## Drill history")];
    assert!(!schedule.contains("restore-full"), "not a drill");
}

#[test]
fn documenting_runs_no_step_and_touches_nothing() {
    let t = project()
        .file(
            "runbooks/dangerous.rhai",
            r#"//! # Dangerous
runbook(#{ title: "Dangerous" });
write_file("top-level-write.txt", "x");
remove_file("runbook.toml");
let text = read_file("does-not-exist.txt");
let h = http_check("http://127.0.0.1:1/");
tcp_check("127.0.0.1", 1);
sleep("10m");
if !confirm("Really?") { throw "no"; }
notify(secret("WEBHOOK_URL"), "hello");
wait_until(|| false, #{ timeout: "10m", interval: "1s" });
let store = storage("backups");
let age = store.latest_age("app-data");
if age == () { target_missed("no backup at all"); }
step("Write", || write_file("step-write.txt", "x"));
step("Call", || http_check("http://127.0.0.1:1/"));
step("Wait", || sleep("10m"));"#,
        )
        .file("canary.env", "");
    let before = t.tree();
    let started = std::time::Instant::now();
    t.again(&["doc"]).code(0);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let mut after = t.tree();
    let doc = playbook(&t);
    after.retain(|(path, _)| !path.ends_with("dr-playbook.md"));
    assert_eq!(before, after, "doc must write nothing but the playbook");
    position(&doc, "1. **Write**\n2. **Call**\n3. **Wait**");
}

#[test]
fn doc_check_detects_a_stale_playbook_and_output_is_deterministic() {
    let t = project();
    t.again(&["doc", "--check"])
        .code(1)
        .stderr_has("does not exist")
        .stderr_has("runbook doc -o");
    t.again(&["doc"]).code(0);
    let first = playbook(&t);
    t.again(&["doc", "--check"])
        .code(0)
        .stdout_has("up to date");
    t.again(&["doc"]).code(0);
    assert_eq!(first, playbook(&t), "same inputs, same bytes");

    t.put(
        "runbooks/plain.rhai",
        r#"runbook(#{ title: "Plain" }); step("A new step", || 1);"#,
    );
    t.again(&["doc", "--check"])
        .code(1)
        .stderr_has("is stale")
        .stderr_has("+ 1. **A new step**")
        .stderr_has("commit");
    assert_eq!(first, playbook(&t), "--check writes nothing");
}

#[test]
fn a_broken_drill_log_line_is_named() {
    let t = project();
    t.put("docs/operations/drills.jsonl", "{not json}\n");
    t.again(&["doc"]).code(2).stderr_has("drills.jsonl line 1");
}

#[test]
fn step_options_are_checked_and_fallbacks_shown_when_a_step_fails() {
    Test::new()
        .file(
            "f.rhai",
            r#"runbook(#{ title: "F" });
step("Restore files", #{ fallback: "copy the files by hand from the NAS" }, || read_file("missing.txt"));"#,
        )
        .args(&["run", "f.rhai"])
        .run()
        .code(1)
        .stderr_has("manual fallback for \"Restore files\": copy the files by hand from the NAS");
    Test::new()
        .file(
            "o.rhai",
            r#"runbook(#{ title: "O" }); step("S", #{ fallbak: "x" }, || 1);"#,
        )
        .args(&["run", "o.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown option `fallbak`")
        .stderr_has("timeout, fallback, manual");
}

#[test]
fn the_example_runbooks_document() {
    let t = Test::new()
        .repo_file("runbooks/examples/drill-files.rhai")
        .repo_file("runbooks/examples/hello.rhai")
        .repo_file("runbooks/examples/files.rhai")
        .repo_file("runbooks/examples/wait.rhai");
    t.again(&["doc", "runbooks/examples", "-o", "playbook.md"])
        .code(0);
    let doc = std::fs::read_to_string(t.path().join("playbook.md")).unwrap();
    position(
        &doc,
        "2. **Write the application files**\n   - Manual fallback:",
    );
    position(&doc, "| Files restore drill | `runbooks/examples/drill-files.rhai` | `0 3 1 */3 *` | — | not drilled yet |");
}
