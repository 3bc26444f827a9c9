//! `runbook drill`: a live run that records a drill — the drill log line, the RTO verdict and
//! exit code, the evidence folder and its checksums, notes, and secrets kept out of all of it.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::Test;

const SECRET: &str = "s3cr3t-token-value";

const DRILL: &str = r#"//! # Restore drill
//! Restores into a scratch folder.
runbook(#{ title: "Restore drill", rto: "1m",
           params: #{ target: "out/scratch", token: #{ secret: true, value: (), doc: "API token" } } });
let api = secret("API_TOKEN");
step("Find backup", || `newest set, token ${param("token")}`);
step("Restore", || write_file(`${param("target")}/a.txt`, "restored"));
step("Check", || read_file(`${param("target")}/a.txt`));
"#;

fn drill_log(t: &Test) -> Vec<Value> {
    std::fs::read_to_string(t.path().join("docs/operations/drills.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn a_drill_records_who_when_params_steps_verdict_and_notes() {
    let t = Test::new()
        .file(".env", &format!("API_TOKEN={SECRET}-env\n"))
        .file("runbooks/restore-drill.rhai", DRILL);
    t.again(&[
        "drill",
        "runbooks/restore-drill.rhai",
        "--param",
        &format!("token={SECRET}"),
        "--operator",
        "ana",
        "--note",
        "the key had to be fetched by hand",
        "--note",
        &format!("someone pasted {SECRET} into chat"),
    ])
    .code(0)
    .stdout_has("✓ Restore")
    .stderr_has("verdict met");

    let log = drill_log(&t);
    assert_eq!(log.len(), 1, "one line per drill");
    let r = &log[0];
    assert_eq!(r["operator"], "ana");
    assert_eq!(r["runbook"], "runbooks/restore-drill.rhai");
    assert_eq!(r["title"], "Restore drill");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["rto"], "1m");
    assert_eq!(r["verdict"], "met");
    assert_eq!(r["params"]["target"], "out/scratch");
    assert_eq!(r["params"]["token"], "***");
    assert!(r["run_id"].as_str().unwrap().contains("restore-drill"));
    assert!(r["started"].as_str().unwrap().ends_with('Z'));
    assert!(r["duration_ms"].as_u64().is_some());
    let steps: Vec<&str> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["Find backup", "Restore", "Check"]);
    assert!(r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "ok" && s["duration_ms"].is_u64()));
    assert_eq!(r["notes"][0], "the key had to be fetched by hand");
    assert_eq!(r["notes"][1], "someone pasted *** into chat");
    assert!(
        t.path().join("out/scratch/a.txt").exists(),
        "a drill is live"
    );
}

#[test]
fn the_evidence_folder_holds_journal_report_record_and_verifiable_checksums() {
    let t = Test::new()
        .file(".env", &format!("API_TOKEN={SECRET}-env\n"))
        .file("runbooks/restore-drill.rhai", DRILL);
    let args = [
        "drill",
        "runbooks/restore-drill.rhai",
        "--param",
        &format!("token={SECRET}"),
        "--yes",
    ];
    t.again(&args).code(0);
    let folder = t.path().join(format!(
        "docs/operations/evidence/{}-restore-drill",
        chrono::Utc::now().format("%Y-%m-%d")
    ));
    let mut names: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "checksums.sha256",
            "drill.json",
            "journal.jsonl",
            "report.md"
        ]
    );
    let sums = std::fs::read_to_string(folder.join("checksums.sha256")).unwrap();
    assert_eq!(sums.lines().count(), 3);
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(folder.join(name)).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(&bytes)), "{name}");
    }
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("drill.json")).unwrap()).unwrap();
    assert_eq!(record, drill_log(&t)[0], "drill.json is the logged record");
    let report = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(report.contains("# Drill report: Restore drill"));
    assert!(report.contains("| Verdict | **met** |"));
    assert!(report.contains("| 2 | Restore | ok |"));
    let journal = std::fs::read_to_string(folder.join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"run_end\""));
    assert_eq!(
        record["evidence"],
        format!(
            "docs/operations/evidence/{}",
            folder.file_name().unwrap().to_string_lossy()
        )
    );

    // A second drill the same day gets its own folder.
    t.again(&args).code(0);
    assert!(folder
        .with_file_name(format!(
            "{}-2",
            folder.file_name().unwrap().to_string_lossy()
        ))
        .is_dir());
    assert_eq!(drill_log(&t).len(), 2);
}

#[test]
fn secrets_never_reach_the_drill_log_or_the_evidence() {
    let t = Test::new()
        .file(".env", &format!("API_TOKEN={SECRET}-env\n"))
        .file(
            "runbooks/leaky.rhai",
            r#"runbook(#{ title: "Leaky", rto: "1m", params: #{ token: #{ secret: true, value: () } } });
step("Uses the token", || log(`token=${param("token")} api=${secret("API_TOKEN")}`));
step("Fails", || { let k = secret("API_TOKEN"); throw `cannot log in with ${k}`; });"#,
        );
    let out = t.again(&[
        "drill",
        "runbooks/leaky.rhai",
        "--param",
        &format!("token={SECRET}"),
        "--note",
        &format!("token {SECRET} is in the runbook history"),
    ]);
    out.code(1);
    assert!(!out.stdout.contains(SECRET) && !out.stderr.contains(SECRET));
    let r = &drill_log(&t)[0];
    assert_eq!(r["status"], "failed");
    assert_eq!(r["failed_step"], "Fails");
    assert_eq!(r["verdict"], "missed", "a failed drill did not recover");
    assert!(r["error"].as_str().unwrap().contains("cannot log in"));
    let mut checked = 0;
    for file in files_below(&t.path().join("docs/operations")) {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(SECRET),
            "{} leaks the secret",
            file.display()
        );
        checked += 1;
    }
    assert_eq!(checked, 5, "drill log + 4 evidence files");
}

#[test]
fn a_successful_drill_slower_than_the_rto_exits_3() {
    let t = Test::new().file(
        "slow.rhai",
        r#"runbook(#{ title: "Slow", rto: "1s" });
step("Takes too long", || sleep("1500ms"));"#,
    );
    t.again(&["drill", "slow.rhai"])
        .code(3)
        .stderr_has("verdict missed")
        .stderr_has("longer than the runbook's RTO");
    let r = &drill_log(&t)[0];
    assert_eq!(r["verdict"], "missed");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["exit_code"], 3);
    assert_eq!(r["runbook"], "slow.rhai");
}

#[test]
fn without_an_rto_the_verdict_is_no_target() {
    let t = Test::new().file("n.rhai", r#"runbook(#{ title: "N" }); step("S", || 1);"#);
    t.again(&["drill", "n.rhai"]).code(0);
    assert_eq!(drill_log(&t)[0]["verdict"], "no-target");
}

#[test]
fn the_drill_log_and_evidence_folder_follow_runbook_toml() {
    let t = Test::new()
        .file(
            "runbook.toml",
            "[drills]\nlog = \"ops/drills.jsonl\"\nevidence = \"ops/evidence\"\n",
        )
        .file("n.rhai", r#"runbook(#{ title: "N" }); step("S", || 1);"#);
    t.again(&["drill", "n.rhai"]).code(0);
    let text = std::fs::read_to_string(t.path().join("ops/drills.jsonl")).unwrap();
    assert!(text.contains("\"verdict\":\"no-target\""));
    assert!(text.contains("\"evidence\":\"ops/evidence/"));
    assert_eq!(
        std::fs::read_dir(t.path().join("ops/evidence"))
            .unwrap()
            .count(),
        1
    );
    t.put("runbook.toml", "[drills]\nlogfile = \"x\"\n");
    t.again(&["drill", "n.rhai"]).code(2).stderr_has("logfile");
}

#[test]
fn without_a_terminal_the_drill_never_asks_for_notes() {
    let t = Test::new().file("n.rhai", r#"runbook(#{ title: "N" }); step("S", || 1);"#);
    // stdin stays open (a pipe nobody writes to): a prompt would wait forever.
    let mut child = std::process::Command::new(support::binary())
        .args(["drill", "n.rhai"])
        .current_dir(t.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("drill waited for input without a terminal");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    assert_eq!(drill_log(&t)[0]["notes"], serde_json::json!([]));
}

#[test]
fn errors_before_the_run_starts_record_no_drill() {
    let t = Test::new().file("n.rhai", r#"runbook(#{ title: "N", params: #{ p: () } });"#);
    t.again(&["drill", "n.rhai"])
        .code(2)
        .stderr_has("parameter `p` is required");
    assert!(drill_log(&t).is_empty());
    assert!(!t.path().join("docs").exists());
}

#[test]
fn the_example_drill_runs() {
    let t = Test::new().repo_file("runbooks/examples/drill-files.rhai");
    t.again(&[
        "drill",
        "runbooks/examples/drill-files.rhai",
        "--note",
        "fine",
    ])
    .code(0)
    .stdout_has("manual: Tell #ops")
    .stdout_has("2 files verified");
    assert_eq!(drill_log(&t)[0]["verdict"], "met");
}

#[test]
fn a_drill_regenerates_a_playbook_that_exists() {
    let t = Test::new().file(
        "runbooks/drill-n.rhai",
        r#"runbook(#{ title: "N drill", rto: "1h" }); step("S", || 1);"#,
    );
    t.again(&["drill", "runbooks/drill-n.rhai"])
        .code(0)
        .stderr_has("update the playbook: runbook doc");
    assert!(!t.path().join("docs/operations/dr-playbook.md").exists());
    t.again(&["doc"]).code(0);
    t.again(&["drill", "runbooks/drill-n.rhai", "--note", "second one"])
        .code(0)
        .stderr_has("(regenerated)");
    t.again(&["doc", "--check"]).code(0);
    let playbook =
        std::fs::read_to_string(t.path().join("docs/operations/dr-playbook.md")).unwrap();
    assert!(playbook.contains("second one"));
}
