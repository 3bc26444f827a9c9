//! Journal, resume, locks and interruption.

mod support;

use std::time::Duration;

use support::Test;

const COUNTED: &str = r#"
runbook(#{ title: "Counted", params: #{ hang: false } });
let first = step("Count", || {
    let n = if file_exists("count.txt") { parse_int(read_file("count.txt")) } else { 0 };
    if n > 0 { remove_file("count.txt"); }
    write_file("count.txt", `${n + 1}`);
    #{ n: n + 1 }
});
step("Maybe hang", || if param("hang") { sleep("60s") });
log(`first step returned ${first.n}`);
"#;

fn run_id_of(journal: &str) -> String {
    let start: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    start["run_id"].as_str().unwrap().to_string()
}

#[test]
fn a_killed_run_resumes_and_skips_finished_steps() {
    let t = Test::new().file("counted.rhai", COUNTED).args(&[
        "run",
        "counted.rhai",
        "--param",
        "hang=true",
        "--yes",
    ]);
    let mut child = t.spawn();
    let journal = t.wait_for_journal("\"key\":\"Maybe hang#1\"", Duration::from_secs(20));
    child.kill().unwrap();
    child.wait().unwrap();
    let run_id = run_id_of(&journal);

    t.again(&[
        "run",
        "counted.rhai",
        "--resume",
        &run_id,
        "--param",
        "hang=false",
        "--yes",
    ])
    .code(0)
    .stdout_has("↷ Count (finished in an earlier attempt; skipped)")
    .stdout_has("✓ Maybe hang")
    .stdout_has("first step returned 1");
    assert_eq!(
        std::fs::read_to_string(t.path().join("count.txt")).unwrap(),
        "1",
        "the finished step must not run again"
    );
    t.again(&["run", "counted.rhai", "--resume", &run_id])
        .code(2)
        .stderr_has("nothing to resume");
}

#[test]
fn resuming_a_changed_script_needs_force() {
    let t = Test::new().file(
        "c.rhai",
        r#"runbook(#{ title: "C" }); step("A", || 1); step("B", || read_file("nope"));"#,
    );
    t.again(&["run", "c.rhai"]).code(1);
    let run_id = run_id_of(&t.journals()[0].1);
    let t = t.file(
        "c.rhai",
        r#"runbook(#{ title: "C" }); step("A", || 1); step("B", || 2);"#,
    );
    t.again(&["run", "c.rhai", "--resume", &run_id])
        .code(2)
        .stderr_has("changed since run")
        .stderr_has("--force");
    t.again(&["run", "c.rhai", "--resume", &run_id, "--force"])
        .code(0)
        .stdout_has("↷ A");
}

#[test]
fn a_second_concurrent_run_gets_exit_4_and_a_dry_run_needs_no_lock() {
    let t = Test::new().repo_file("runbooks/examples/wait.rhai").args(&[
        "run",
        "runbooks/examples/wait.rhai",
        "--param",
        "wait=30s",
    ]);
    let mut first = t.spawn();
    t.wait_for_journal("\"key\":\"Wait#1\"", Duration::from_secs(20));
    t.again(&["run", "runbooks/examples/wait.rhai"])
        .code(4)
        .stderr_has("another run of this runbook is in progress")
        .stderr_has(&format!("pid {}", first.id()))
        .stderr_has("--lock-wait");
    t.again(&[
        "run",
        "--dry-run",
        "runbooks/examples/wait.rhai",
        "--param",
        "wait=1ms",
    ])
    .code(0);
    first.kill().unwrap();
    first.wait().unwrap();
    // The OS released the dead run's lock: the next run takes over and says so.
    t.again(&["run", "runbooks/examples/wait.rhai", "--param", "wait=1ms"])
        .code(0)
        .stderr_has("ended without releasing its lock");
}

#[cfg(unix)]
#[test]
fn ctrl_c_exits_130_with_the_journal_flushed() {
    let t = Test::new().repo_file("runbooks/examples/wait.rhai").args(&[
        "run",
        "runbooks/examples/wait.rhai",
        "--param",
        "wait=30s",
    ]);
    let child = t.spawn();
    t.wait_for_journal("\"key\":\"Wait#1\"", Duration::from_secs(20));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let journal = t.wait_for_journal("\"status\":\"interrupted\"", Duration::from_secs(5));
    assert!(journal.contains("\"exit_code\":130"));
}
