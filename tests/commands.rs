//! `runbook check`, `list`, `api`, modules, and `--help`.

mod support;

use support::{repo, Test};

#[test]
fn check_accepts_the_examples_and_reports_every_bad_file() {
    let t = Test::new()
        .repo_file("runbooks/examples/hello.rhai")
        .repo_file("runbooks/examples/files.rhai")
        .repo_file("runbooks/examples/wait.rhai")
        .file(
            "bad.rhai",
            "runbook(#{ title: \"x\", rpo: \"1 fortnight\" });",
        )
        .file("syntax.rhai", "runbook(#{ title: \"x\" });\nlet = 3;");
    t.again(&[
        "check",
        "runbooks/examples/hello.rhai",
        "runbooks/examples/files.rhai",
        "runbooks/examples/wait.rhai",
    ])
    .code(0)
    .stdout_has("ok   runbooks/examples/hello.rhai  (Hello, runbook)");
    t.again(&[
        "check",
        "runbooks/examples/hello.rhai",
        "bad.rhai",
        "syntax.rhai",
    ])
    .code(2)
    .stdout_has("ok   runbooks/examples/hello.rhai")
    .stdout_has("FAIL bad.rhai")
    .stdout_has("FAIL syntax.rhai")
    .stderr_has("\"1 fortnight\" is not a duration")
    .stderr_has("--> syntax.rhai:2:")
    .stderr_has("2 of 3 runbook(s) failed");
    t.again(&["check", "runbooks/examples/hello.rhai", "--param", "nope=1"])
        .code(2)
        .stderr_has("unknown parameter `nope`");
}

#[test]
fn check_runs_nothing() {
    let t = Test::new().file(
        "w.rhai",
        r#"runbook(#{ title: "W" }); write_file("x.txt", "x");"#,
    );
    t.again(&["check", "w.rhai"]).code(0);
    assert!(!t.path().join("x.txt").exists());
}

#[test]
fn list_shows_titles_targets_and_schedules() {
    Test::new()
        .repo_file("runbooks/examples/hello.rhai")
        .file(
            "runbooks/nightly.rhai",
            r#"runbook(#{ title: "Nightly backup", rpo: "24h", rto: "2h", schedule: "0 2 * * *" });"#,
        )
        .args(&["list"])
        .run()
        .code(0)
        .stdout_has("RUNBOOK")
        .stdout_has("Nightly backup")
        .stdout_has("0 2 * * *")
        .stdout_has("02:00 UTC");
}

#[test]
fn imports_resolve_beside_the_runbook_then_stdlib_then_built_in() {
    let script = r#"import "common" as common; import "local" as local;
runbook(#{ title: "Imports" });
log(common::or_default("", "built-in works"));
log(local::hello());"#;
    let t = Test::new()
        .file("runbooks/imports.rhai", script)
        .file("runbooks/local.rhai", "fn hello() { \"local module\" }");
    t.again(&["run", "runbooks/imports.rhai"])
        .code(0)
        .stdout_has("built-in works")
        .stdout_has("local module");
    let t = t.file(
        "stdlib/common.rhai",
        "fn or_default(a, b) { \"project stdlib wins\" }",
    );
    t.again(&["run", "runbooks/imports.rhai"])
        .code(0)
        .stdout_has("project stdlib wins");
}

#[test]
fn imports_cannot_escape_the_project() {
    for name in ["../secret", "/etc/passwd", "a/../../b"] {
        Test::new()
            .file("outside.rhai", "fn x() { 1 }")
            .file(
                "runbooks/escape.rhai",
                &format!("import \"{name}\" as m;\nrunbook(#{{ title: \"E\" }});"),
            )
            .args(&["run", "runbooks/escape.rhai"])
            .run()
            .code(2)
            .stderr_has("not allowed");
    }
}

#[test]
fn errors_inside_modules_point_into_the_module() {
    Test::new()
        .file(
            "runbooks/m.rhai",
            "fn boom() {\n    read_file(\"none.txt\")\n}",
        )
        .file(
            "runbooks/use.rhai",
            "import \"m\" as m;\nrunbook(#{ title: \"U\" });\nm::boom();",
        )
        .args(&["run", "runbooks/use.rhai"])
        .run()
        .code(1)
        .stderr_has("reading none.txt")
        .stderr_has("m.rhai:2:");
}

#[test]
fn the_api_reference_in_docs_is_current() {
    let out = Test::new().args(&["api"]).run();
    out.code(0);
    let path = repo().join("docs/api.md");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &out.stdout).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == out.stdout,
        "docs/api.md is stale: run `UPDATE_GOLDEN=1 cargo test --test commands` and commit it"
    );
    for name in [
        "runbook",
        "step",
        "param",
        "secret",
        "write_file",
        "remove_file",
    ] {
        assert!(
            out.stdout.contains(&format!("### `{name}`")),
            "{name} missing"
        );
    }
    assert!(out.stdout.contains("**Effect:** Destructive"));
}

#[test]
fn api_json_lists_functions_with_docs() {
    let out = Test::new().args(&["api", "--format", "json"]).run();
    out.code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let functions: Vec<&serde_json::Value> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["functions"].as_array().unwrap())
        .collect();
    assert!(
        functions
            .iter()
            .all(|f| f["docComments"].as_array().is_some_and(|d| !d.is_empty())),
        "every script-visible function is documented"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in ["run", "check", "list", "api", "drill", "doc", "schedule"] {
        Test::new()
            .args(&[cmd, "--help"])
            .run()
            .code(0)
            .stdout_has("Examples:");
    }
    Test::new()
        .args(&["--help"])
        .run()
        .code(0)
        .stdout_has("Exit codes: 0 ok, 1 a step failed");
}

/// `runbook list | head` and the like end quietly when the reader goes away, without a panic.
#[test]
fn a_closed_stdout_ends_a_listing_quietly() {
    use std::io::Read;
    let mut child = std::process::Command::new(support::binary())
        .args(["api", "--format", "json"]) // ~100 KB: more than a pipe holds
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // stdout is dropped (closed) here, long before the reference is printed.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
