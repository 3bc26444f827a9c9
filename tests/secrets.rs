//! A secret value never appears in stdout, stderr, the journal or the plan.

mod support;

use support::Test;

const SECRET: &str = "s3cr3t-Value-0042";

#[test]
fn a_secret_never_appears_in_any_output() {
    let script = r#"
runbook(#{ title: "Secrets", params: #{ token: #{ secret: true, value: () } } });
let s = secret("API_TOKEN");
let p = param("token");
log(`interpolated: ${s} and ${p}`);
print("concatenated: " + s);
warn(s);
let leaked = step("Return it", || #{ token: s, copy: `${s}` });
log(leaked);
step("Plan with it", || write_file("out/" + `${s}` + ".txt", `${s}`));
step("Fail with it", || { throw `bad token ${s}`; });
"#;
    let t = Test::new()
        .file("secret.rhai", script)
        .env("API_TOKEN", SECRET);
    let outputs = [
        t.again(&[
            "run",
            "secret.rhai",
            "--yes",
            "--param",
            &format!("token={SECRET}-param"),
        ]),
        t.again(&[
            "run",
            "--dry-run",
            "secret.rhai",
            "--param",
            &format!("token={SECRET}-param"),
        ]),
        t.again(&[
            "run",
            "--json",
            "--yes",
            "secret.rhai",
            "--param",
            &format!("token={SECRET}-param"),
        ]),
    ];
    for out in &outputs {
        assert_eq!(out.code, 1, "{out}");
        assert!(out.stdout.contains("interpolated: *** and ***"), "{out}");
        assert!(!out.stdout.contains(SECRET), "stdout leaks\n{out}");
        assert!(!out.stderr.contains(SECRET), "stderr leaks\n{out}");
    }
    assert!(
        outputs[1].stdout.contains("[plan 1] would"),
        "{}",
        outputs[1]
    );
    let journals = t.journals();
    assert_eq!(journals.len(), 2, "two live runs, two journals");
    for (path, text) in journals {
        assert!(!text.contains(SECRET), "{} leaks", path.display());
        assert!(text.contains("\"token\":\"***\""), "params are masked");
    }
    for (name, bytes) in t.tree() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET) || name == ".env",
            "{name} holds the secret"
        );
    }
}

#[test]
fn secrets_come_from_name_file_too() {
    Test::new()
        .file("key.txt", &format!("{SECRET}\n"))
        .file(
            "file.rhai",
            r#"runbook(#{ title: "File" }); let k = secret("DB_PASSWORD"); log(`${k.name}=${k}`);"#,
        )
        .env("DB_PASSWORD_FILE", "key.txt")
        .args(&["run", "file.rhai"])
        .run()
        .code(0)
        .stdout_has("DB_PASSWORD=***");
}

#[test]
fn an_empty_secret_in_env_gives_way_to_name_file() {
    // `.env` copied from `.env.example` keeps `DB_PASSWORD=` empty; the key lives in a file.
    Test::new()
        .file("key.txt", &format!("{SECRET}\n"))
        .file(".env", "DB_PASSWORD=\nDB_PASSWORD_FILE=key.txt\n")
        .file(
            "file.rhai",
            r#"runbook(#{ title: "File" }); let k = secret("DB_PASSWORD"); log(`${k.name}=${k}`);"#,
        )
        .args(&["run", "file.rhai"])
        .run()
        .code(0)
        .stdout_has("DB_PASSWORD=***");
}

#[test]
fn a_missing_secret_names_every_place_it_was_looked_for() {
    Test::new()
        .file(
            "m.rhai",
            r#"runbook(#{ title: "M" }); secret("NOT_SET_ANYWHERE");"#,
        )
        .args(&["run", "m.rhai"])
        .run()
        .code(2)
        .stderr_has("secret NOT_SET_ANYWHERE is not set")
        .stderr_has("NOT_SET_ANYWHERE_FILE");
}
