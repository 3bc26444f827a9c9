//! `runbook run`: live runs, dry-runs, the effect gate, steps, parameters, errors and exit codes.

mod support;

use support::Test;

const GATE: &str = r#"
runbook(#{ title: "Gate" });
step("Remove first", || remove_file("keep.txt"));
step("Then write", || write_file("new.txt", "x"));
"#;

#[test]
fn a_live_run_executes_steps_and_returns_their_values() {
    Test::new()
        .repo_file("runbooks/examples/hello.rhai")
        .args(&["run", "runbooks/examples/hello.rhai", "--param", "who=ops"])
        .run()
        .code(0)
        .stdout_has("✓ Compose greeting")
        .stdout_has("1: hello, ops")
        .stdout_has("2: hello, ops")
        .stdout_has("✓ finished");
}

#[test]
fn destructive_action_without_terminal_or_yes_stops_before_doing_anything() {
    let t = Test::new()
        .file("keep.txt", "precious")
        .file("gate.rhai", GATE);
    t.again(&["run", "gate.rhai"])
        .code(2)
        .stderr_has("no terminal to ask on")
        .stderr_has("--yes");
    assert_eq!(
        std::fs::read_to_string(t.path().join("keep.txt")).unwrap(),
        "precious"
    );
    assert!(
        !t.path().join("new.txt").exists(),
        "later steps must not run"
    );
}

#[test]
fn yes_confirms_destructive_actions() {
    let t = Test::new()
        .file("keep.txt", "precious")
        .file("gate.rhai", GATE);
    t.again(&["run", "gate.rhai", "--yes"])
        .code(0)
        .stdout_has("confirmed by --yes");
    assert!(!t.path().join("keep.txt").exists());
    assert!(t.path().join("new.txt").exists());
}

#[test]
fn dry_run_leaves_the_filesystem_untouched_and_prints_a_numbered_plan() {
    let t = Test::new()
        .file("keep.txt", "precious")
        .file("gate.rhai", GATE)
        .repo_file("runbooks/examples/files.rhai");
    let before = t.tree();
    t.again(&["run", "--dry-run", "gate.rhai"])
        .code(0)
        .stdout_has("Plan (dry-run; nothing was changed): 2 action(s)")
        .stdout_has("1. remove keep.txt  [destructive, step \"Remove first\"]")
        .stdout_has("2. write 1 bytes to new.txt  [write, step \"Then write\"]");
    t.again(&["run", "--dry-run", "runbooks/examples/files.rhai"])
        .code(0)
        .stdout_has("would write 8 bytes to out/marker.txt");
    assert_eq!(
        before,
        t.tree(),
        "a dry-run must not write anything, journal included"
    );
}

#[test]
fn dry_run_returns_simulated_values_of_the_same_shape() {
    Test::new()
        .file(
            "shape.rhai",
            r#"runbook(#{ title: "Shape" });
               let w = write_file("a/b.txt", "hello");
               log(`bytes=${w.bytes} path=${w.path}`);"#,
        )
        .args(&["run", "--dry-run", "shape.rhai"])
        .run()
        .code(0)
        .stdout_has("bytes=5 path=a/b.txt");
}

#[test]
fn a_failing_step_exits_1_and_names_the_step() {
    Test::new()
        .file(
            "fail.rhai",
            r#"runbook(#{ title: "Fails" });
step("Fine", || 1);
step("Broken", || read_file("missing.txt"));
step("Never", || 2);"#,
        )
        .args(&["run", "fail.rhai"])
        .run()
        .code(1)
        .stdout_has("✗ Broken")
        .stdout_lacks("Never")
        .stderr_has("reading missing.txt")
        .stderr_has("--> fail.rhai:3:")
        .stderr_has("--resume");
}

#[test]
fn scripts_can_catch_primitive_failures() {
    Test::new()
        .file(
            "catch.rhai",
            r#"runbook(#{ title: "Catch" });
try { read_file("missing.txt"); } catch (err) { log(`caught ${err.kind}: ${err.message}`); }"#,
        )
        .args(&["run", "catch.rhai"])
        .run()
        .code(0)
        .stdout_has("caught failed: reading missing.txt");
}

#[test]
fn a_syntax_error_names_line_and_column_with_a_caret() {
    Test::new()
        .file(
            "bad.rhai",
            "runbook(#{ title: \"Bad\" });\nlet x = 1;\nlog(\"hello\";\n",
        )
        .args(&["run", "bad.rhai"])
        .run()
        .code(2)
        .stderr_has("syntax error")
        .stderr_has("--> bad.rhai:3:")
        .stderr_has("3 | log(\"hello\";")
        .stderr_has("^");
}

#[test]
fn an_infinite_loop_ends_with_a_clear_limit_error() {
    Test::new()
        .file("runbook.toml", "[limits]\nmax_operations = 20000\n")
        .file(
            "loop.rhai",
            "runbook(#{ title: \"Loop\" });\nlet n = 0;\nloop { n += 1; }\n",
        )
        .args(&["run", "loop.rhai"])
        .run()
        .code(2)
        .stderr_has("more than 20000 operations")
        .stderr_has("max_operations");
}

#[test]
fn a_step_timeout_stops_the_step_and_cannot_be_caught() {
    Test::new()
        .repo_file("runbooks/examples/wait.rhai")
        .args(&[
            "run",
            "runbooks/examples/wait.rhai",
            "--param",
            "wait=30s",
            "--param",
            "timeout=300ms",
        ])
        .run()
        .code(1)
        .stderr_has("step \"Wait\" timed out after 300ms")
        .stdout_lacks("After the wait");
}

#[test]
fn parameters_are_checked_by_name_and_type() {
    let t = Test::new().repo_file("runbooks/examples/hello.rhai");
    t.again(&["run", "runbooks/examples/hello.rhai", "--param", "whom=x"])
        .code(2)
        .stderr_has("unknown parameter `whom`")
        .stderr_has("declares: repeat, who");
    t.again(&[
        "run",
        "runbooks/examples/hello.rhai",
        "--param",
        "repeat=many",
    ])
    .code(2)
    .stderr_has("not a whole number");
    Test::new()
        .file(
            "req.rhai",
            r#"runbook(#{ title: "R", params: #{ target: () } }); log(param("target"));"#,
        )
        .args(&["run", "req.rhai"])
        .run()
        .code(2)
        .stderr_has("parameter `target` is required");
    Test::new()
        .file(
            "undeclared.rhai",
            r#"runbook(#{ title: "U" }); param("nope");"#,
        )
        .args(&["run", "undeclared.rhai"])
        .run()
        .code(2)
        .stderr_has("parameter `nope` is not declared");
}

#[test]
fn metadata_is_validated_before_anything_runs() {
    let t = Test::new().file(
        "meta.rhai",
        r#"runbook(#{ title: "M", rto: "soon" }); write_file("x.txt", "x");"#,
    );
    t.again(&["run", "meta.rhai"])
        .code(2)
        .stderr_has("\"soon\" is not a duration");
    assert!(!t.path().join("x.txt").exists());
    Test::new()
        .file("typo.rhai", r#"runbook(#{ titel: "M" });"#)
        .args(&["run", "typo.rhai"])
        .run()
        .code(2)
        .stderr_has("unknown key `titel`")
        .stderr_has("valid keys are: title");
    Test::new()
        .file("none.rhai", r#"log("no metadata");"#)
        .args(&["run", "none.rhai"])
        .run()
        .code(2)
        .stderr_has("no runbook(#{ title: ... }) declaration");
}

#[test]
fn target_missed_exits_3() {
    Test::new()
        .file(
            "rpo.rhai",
            r#"runbook(#{ title: "RPO", rpo: "24h" }); target_missed("newest backup is 30h old");"#,
        )
        .args(&["run", "rpo.rhai"])
        .run()
        .code(3)
        .stderr_has("newest backup is 30h old");
}

#[test]
fn json_output_is_one_event_per_line() {
    let out = Test::new()
        .repo_file("runbooks/examples/hello.rhai")
        .args(&["run", "--json", "runbooks/examples/hello.rhai"])
        .run();
    out.code(0);
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_start"));
    assert_eq!(kinds.last(), Some(&"run_end"));
    assert!(kinds.contains(&"step_end"));
    assert_eq!(events.last().unwrap()["exit_code"], 0);
}

#[test]
fn env_reads_the_environment_then_the_env_file() {
    Test::new()
        .file(".env", "FROM_FILE=file-value\n")
        .file(
            "env.rhai",
            r#"runbook(#{ title: "Env" });
log(env("FROM_FILE")); log(env("FROM_ENV")); log(env("ABSENT_VAR", "fallback"));
env("ABSENT_VAR");"#,
        )
        .env("FROM_ENV", "env-value")
        .args(&["run", "env.rhai"])
        .run()
        .code(2)
        .stdout_has("file-value")
        .stdout_has("env-value")
        .stdout_has("fallback")
        .stderr_has("environment variable ABSENT_VAR is not set");
}
