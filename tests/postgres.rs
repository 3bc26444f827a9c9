//! Database backups for real: throw-away Postgres clusters (initdb + pg_ctl on loopback), the
//! real `pg_dump`, `pg_dumpall`, `pg_restore` and `psql`, and the S3-protocol server in
//! process. Round trips verified against the manifest and by what a restricted role sees;
//! faults (dump source stopped, restore target stopped, non-empty target, wrong key); dry-runs
//! that change nothing.

#[path = "support/postgres.rs"]
mod postgres;
#[path = "support/s3.rs"]
mod s3;
mod support;

use std::time::Duration;

use postgres::{Cluster, FIXTURE, PASSWORD};
use s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use support::Test;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4=";

const PRELUDE: &str = r#"
runbook(#{ title: "Database" });
let key = key(secret("BACKUP_ENCRYPTION_KEY"));
let store = storage(`s3://backups/mt5`, #{
    endpoint: env("S3_ENDPOINT"), region: "us-east-1",
    access_key: secret("S3_KEY"), secret_key: secret("S3_SECRET"),
    allow_http: true, retries: 2, retry_timeout: "4s" });
"#;

fn script(body: &str) -> String {
    format!("{PRELUDE}\n{body}")
}

/// A project with `backup.rhai` (dump `SOURCE_URL`) and `restore.rhai` (restore the newest
/// set into `TARGET_URL`, options from the `RESTORE_OPTIONS` param).
fn project(server: &S3Server, source: &Cluster, target: &Cluster) -> Test {
    Test::new()
        .file(
            "backup.rhai",
            &script(
                r#"let db = postgres(secret("SOURCE_URL"));
let set = step("Dump", || store.backup("database", db.dump(), key));
log(`dumped ${set.tables} tables, ${set.rows} rows, ${set.policies} policies into ${set.id}`);"#,
            ),
        )
        .file(
            "restore.rhai",
            &script(
                r#"let target = postgres(secret("TARGET_URL"));
let set = step("Find", || store.find("database", "latest"));
let report = step("Restore", || target.restore(store, set, key, #{ target_db: env("TARGET_DB", "app") }));
log(`restored ${report.tables} tables, ${report.rows} rows, verified=${report.verified}`);"#,
            ),
        )
        .env("S3_ENDPOINT", &server.endpoint)
        .env("S3_KEY", ACCESS_KEY)
        .env("S3_SECRET", SECRET_KEY)
        .env("BACKUP_ENCRYPTION_KEY", KEY)
        .env("SOURCE_URL", &source.url("app"))
        .env("TARGET_URL", &target.url("postgres"))
}

fn fixture_cluster() -> Cluster {
    let cluster = Cluster::start();
    cluster.psql("postgres", "CREATE DATABASE app");
    cluster.psql("app", FIXTURE);
    cluster
}

/// The S3 server, a fixture source cluster, an empty target cluster, and a project whose
/// `backup.rhai` has just made one database set.
fn backed_up() -> (S3Server, Cluster, Cluster, Test) {
    let server = S3Server::start();
    let source = fixture_cluster();
    let target = Cluster::start();
    let t = project(&server, &source, &target);
    t.again(&["run", "backup.rhai"]).code(0);
    (server, source, target, t)
}

/// Adds a table big enough that a dump or restore is still streaming when a test stops a server.
fn add_ticks(cluster: &Cluster) {
    cluster.psql(
        "app",
        "CREATE TABLE public.ticks AS SELECT i AS id, md5(i::text) || md5((i * 7)::text) AS payload \
         FROM generate_series(1, 800000) i",
    );
}

/// Starts `t`'s command, stops `cluster` as soon as a COPY streams through it, and returns the
/// command's stderr after checking that it failed with exit 1.
fn stop_mid_stream(t: &Test, cluster: &Cluster) -> String {
    let child = t.spawn();
    assert!(
        cluster.wait_for_query("COPY", Duration::from_secs(30)),
        "the COPY started"
    );
    cluster.stop();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    stderr
}

/// What `role` sees of the fixture's protected tables.
fn seen_by(cluster: &Cluster, db: &str, role: &str) -> String {
    cluster.psql_as(
        db,
        Some(role),
        "SELECT (SELECT count(*) FROM app.accounts) || '/' || (SELECT count(*) FROM app.trades) \
         || '/' || (SELECT coalesce(sum(volume), 0) FROM app.trades)",
    )
}

#[test]
fn a_dump_restores_into_another_cluster_verified_and_policies_behave_the_same() {
    let server = S3Server::start();
    let source = fixture_cluster();
    let target = Cluster::start();
    let t = project(&server, &source, &target).args(&["run", "backup.rhai"]);
    t.run()
        .code(0)
        .stdout_has("dumped 4 tables, 345 rows, 7 policies");
    let manifest = server.manifest("database", &server.set_ids("database")[0]);
    for recorded in [
        "\"kind\": \"postgres\"",
        "\"name\": \"trades\"",
        "\"rows\": 300",
        "\"force_rls\": true",
        "\"name\": \"only open trades\"",
        "\"permissive\": \"RESTRICTIVE\"",
        "\"name\": \"trader\"",
        "\"consistent_snapshot\": true",
        "roles.sql.zst.rbk",
        "database.pgdump.zst.rbk",
    ] {
        assert!(
            manifest.contains(recorded),
            "{recorded} not in manifest:\n{manifest}"
        );
    }
    assert!(!manifest.contains(PASSWORD));

    t.again(&["run", "restore.rhai"])
        .code(0)
        .stdout_has("restored 4 tables, 345 rows, verified=true");
    // The roles came along and the policies behave the same: the restricted role sees the
    // same rows before and after (its own accounts; its own, non-archived trades).
    for role in ["trader", "auditor"] {
        assert_eq!(
            seen_by(&source, "app", role),
            seen_by(&target, "app", role),
            "{role}"
        );
    }
    assert_eq!(seen_by(&target, "app", "trader"), "2/160/1309.00");
    assert_eq!(
        target.psql("app", "SELECT app.volume_of('trader')"),
        source.psql("app", "SELECT app.volume_of('trader')")
    );
    // The password never shows.
    for (_, journal) in t.journals() {
        assert!(!journal.contains(PASSWORD));
    }
}

#[test]
fn parallel_and_plain_restores_verify_too() {
    let server = S3Server::start();
    let source = fixture_cluster();
    let target = Cluster::start();
    let t = project(&server, &source, &target)
        .file(
            "plain.rhai",
            &script(
                r#"let db = postgres(secret("SOURCE_URL"));
step("Dump", || store.backup("database", db.dump(#{ format: "plain", roles: false, schemas: ["app"] }), key));
let target = postgres(secret("TARGET_URL"));
let set = store.latest("database");
let r = step("Restore", || target.restore(store, set, key, #{ target_db: "plain_copy" }));
log(`plain: ${r.tables} tables verified=${r.verified}`);"#,
            ),
        )
        .file(
            "parallel.rhai",
            &script(
                r#"let target = postgres(secret("TARGET_URL"));
let set = store.find("database", "latest");
let r = step("Restore", || target.restore(store, set, key, #{ target_db: "parallel_copy", jobs: 2, temp_dir: "tmp" }));
log(`parallel: ${r.tables} tables verified=${r.verified}`);"#,
            ),
        );
    std::fs::create_dir(t.path().join("tmp")).unwrap();
    t.again(&["run", "backup.rhai"]).code(0);
    t.again(&["run", "parallel.rhai"])
        .code(0)
        .stdout_has("parallel: 4 tables verified=true");
    assert_eq!(
        std::fs::read_dir(t.path().join("tmp")).unwrap().count(),
        0,
        "the temporary dump file is removed"
    );
    // Plain SQL of one schema, without roles: the parallel restore brought them already.
    t.again(&["run", "plain.rhai"])
        .code(0)
        .stdout_has("plain: 2 tables verified=true");
    assert_eq!(seen_by(&target, "plain_copy", "trader"), "2/160/1309.00");
}

#[test]
fn a_dump_whose_server_stops_mid_stream_leaves_no_set_and_a_rerun_works() {
    let server = S3Server::start();
    let source = fixture_cluster();
    // Enough data that the dump is still streaming when the server goes away.
    add_ticks(&source);
    let target = Cluster::start();
    let t = project(&server, &source, &target).args(&["run", "backup.rhai"]);
    let stderr = stop_mid_stream(&t, &source);
    assert!(stderr.contains("pg_dump failed"), "{stderr}");
    assert!(stderr.contains("no set was written"), "{stderr}");
    assert!(!stderr.contains(PASSWORD));
    assert_eq!(
        server.complete_set_ids("database").len(),
        0,
        "no complete set"
    );
    let leftovers: Vec<_> = walkdir::WalkDir::new(server.bucket_dir().join("mt5/database"))
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().display().to_string())
        .collect();
    assert!(
        leftovers.is_empty(),
        "the partial objects are removed: {leftovers:?}"
    );

    source.restart();
    t.run().code(0).stdout_has("dumped 5 tables");
    assert_eq!(server.complete_set_ids("database").len(), 1);
}

#[test]
fn a_restore_whose_target_stops_fails_clearly_and_a_rerun_works() {
    let server = S3Server::start();
    let source = fixture_cluster();
    add_ticks(&source);
    let target = Cluster::start();
    let t = project(&server, &source, &target).args(&["run", "restore.rhai"]);
    t.again(&["run", "backup.rhai"]).code(0);
    let stderr = stop_mid_stream(&t, &target);
    assert!(stderr.contains("pg_restore failed"), "{stderr}");
    assert!(stderr.contains("run again"), "{stderr}");

    // One transaction: after the crash the target database is empty, so a rerun may use it.
    target.restart();
    t.run().code(0).stdout_has("verified=true");
    assert_eq!(
        target.psql("app", "SELECT count(*) FROM public.ticks"),
        "800000"
    );
}

#[test]
fn a_non_empty_target_is_refused_before_it_is_touched_and_clean_replaces_it() {
    let (_server, _source, target, t) = backed_up();
    target.psql("postgres", "CREATE DATABASE app");
    target.psql(
        "app",
        "CREATE TABLE public.settings (key text); INSERT INTO public.settings VALUES ('keep me')",
    );
    t.again(&["run", "restore.rhai"])
        .code(2)
        .stderr_has("database app is not empty")
        .stderr_has("nothing was restored")
        .stderr_has("clean: true");
    assert_eq!(
        target.psql("app", "SELECT key FROM public.settings"),
        "keep me"
    );

    // With clean the restore is Destructive: refused without a terminal or --yes ...
    t.put(
        "clean.rhai",
        &script(
            r#"let target = postgres(secret("TARGET_URL"));
let set = store.find("database", "latest");
let r = step("Restore", || target.restore(store, set, key, #{ target_db: "app", clean: true }));
log(`verified=${r.verified}`);"#,
        ),
    );
    t.again(&["run", "clean.rhai"]).code(2).stderr_has("--yes");
    assert_eq!(
        target.psql("app", "SELECT key FROM public.settings"),
        "keep me"
    );
    // ... and with --yes it replaces the set's objects and verifies.
    t.again(&["run", "clean.rhai", "--yes"])
        .code(0)
        .stdout_has("verified=true");
    assert_eq!(
        target.psql("app", "SELECT count(*) FROM public.settings"),
        "2"
    );
}

#[test]
fn a_wrong_key_restores_nothing() {
    let (server, source, target, _t) = backed_up();
    let wrong = project(&server, &source, &target).env("BACKUP_ENCRYPTION_KEY", OTHER_KEY);
    let out = wrong.again(&["run", "restore.rhai"]);
    out.code(1).stderr_has("key");
    assert!(!target.has_database("app"), "no database was created");
}

#[test]
fn a_restore_that_does_not_match_the_manifest_names_the_differences() {
    let server = S3Server::start();
    let source = fixture_cluster();
    let target = Cluster::start();
    let t = project(&server, &source, &target).file(
        "compare.rhai",
        &script(
            r#"let restored = postgres(secret("RESTORED_URL"));
let set = store.latest("database");
let check = restored.compare_with(store, set);
log(`ok=${check.ok}`);
for d in check.differences { log(`difference: ${d}`); }"#,
        ),
    );
    t.again(&["run", "backup.rhai"]).code(0);
    t.again(&["run", "restore.rhai"]).code(0);
    let t = t.env("RESTORED_URL", &target.url("app"));
    t.again(&["run", "compare.rhai"])
        .code(0)
        .stdout_has("ok=true");
    target.psql(
        "app",
        "DELETE FROM public.audit_log WHERE id > 38; DROP POLICY \"only open trades\" ON app.trades; \
         ALTER TABLE app.accounts DISABLE ROW LEVEL SECURITY",
    );
    t.again(&["run", "compare.rhai"])
        .code(0)
        .stdout_has("ok=false")
        .stdout_has("table public.audit_log has 38 rows, the backup had 40")
        .stdout_has("policy \"only open trades\" on app.trades is missing")
        .stdout_has("table app.accounts: row-level security is off, the backup had it on");
}

#[test]
fn dry_runs_read_the_database_and_write_nothing() {
    let server = S3Server::start();
    let source = fixture_cluster();
    let target = Cluster::start();
    let t = project(&server, &source, &target);
    t.again(&["run", "--dry-run", "backup.rhai"])
        .code(0)
        .stdout_has("4 tables, 7 policies");
    assert!(server.snapshot().is_empty(), "nothing uploaded");
    t.again(&["run", "backup.rhai"]).code(0);
    let before = server.snapshot();
    t.again(&["run", "--dry-run", "restore.rhai"])
        .code(0)
        .stdout_has("create database app and restore set");
    assert!(!target.has_database("app"));
    assert_eq!(server.snapshot(), before);
}

#[test]
fn queries_are_read_only_and_parameters_are_typed() {
    let source = fixture_cluster();
    let t = Test::new()
        .env("DATABASE_URL", &source.url("app"))
        .file(
            "query.rhai",
            r#"runbook(#{ title: "Query" });
let db = postgres(secret("DATABASE_URL"));
let rows = db.query("SELECT owner, count(*) AS n, sum(id) AS ids FROM app.accounts WHERE broker <> $1 GROUP BY owner ORDER BY owner", ["nobody"]);
for r in rows { log(`${r.owner}=${r.n}`); }
let settings = db.query("SELECT value FROM public.settings WHERE key = $1", ["risk"]);
log(`max_lot=${settings[0].value.max_lot}`);
let counts = db.row_counts();
log(`trades=${counts["app.trades"]}`);
let t = db.tables().filter(|t| t.name == "trades")[0];
log(`rls=${t.rls} force=${t.force_rls}`);
log(`policies=${db.policies().len()} version=${db.server_version()}`);
let changed = db.execute("UPDATE public.settings SET value = '{}' WHERE key = $1", ["mode"]);
log(`changed=${changed}`);
try { db.query("DELETE FROM public.settings"); } catch (e) { log(`refused: ${e}`); }
try { db.query("SELECT 1 WHERE $1", [42]); } catch (e) { log(`typed: ${e}`); }"#,
        )
        .args(&["run", "query.rhai"]);
    t.run()
        .code(0)
        .stdout_has("someone_else=1")
        .stdout_has("trader=2")
        .stdout_has("max_lot=2.5")
        .stdout_has("trades=300")
        .stdout_has("rls=true force=true")
        .stdout_has("policies=7")
        .stdout_has("changed=1")
        .stdout_has("use db.execute")
        .stdout_has("parameter $1 is bool");
    assert_eq!(
        source.psql("app", "SELECT count(*) FROM public.settings"),
        "2"
    );
    // In a dry-run the query runs and the execute is only planned.
    t.again(&["run", "--dry-run", "query.rhai"])
        .code(0)
        .stdout_has("trader=2");
}

#[test]
fn connection_problems_say_what_to_do() {
    let source = fixture_cluster();
    let wrong_password = source.url("app").replace(PASSWORD, "not-the-password");
    let t = Test::new()
        .env("DATABASE_URL", &wrong_password)
        .env(
            "NO_SERVER_URL",
            "postgres://postgres:pw@127.0.0.1:9/app?sslmode=disable",
        )
        .file(
            "a.rhai",
            r#"runbook(#{ title: "Auth" });
let db = postgres(secret("DATABASE_URL"));
db.tables();"#,
        )
        .file(
            "b.rhai",
            r#"runbook(#{ title: "Down" });
let db = postgres(secret("NO_SERVER_URL"));
db.tables();"#,
        )
        .file(
            "c.rhai",
            r#"runbook(#{ title: "Inline" });
let db = postgres("postgres://postgres:hunter2@127.0.0.1:9/app");"#,
        );
    let out = t.again(&["run", "a.rhai"]);
    out.code(1)
        .stderr_has("password authentication failed")
        .stderr_has("check the user and password");
    assert!(!format!("{out:?}").contains("not-the-password"));
    t.again(&["run", "b.rhai"])
        .code(1)
        .stderr_has("cannot connect to postgres://postgres@127.0.0.1:9/app")
        .stderr_has("check that the server is running");
    let out = t.again(&["run", "c.rhai"]);
    out.code(2).stderr_has("contains a password");
}

#[cfg(unix)]
#[test]
fn client_tools_older_than_the_server_are_refused_before_dumping() {
    use std::os::unix::fs::PermissionsExt;
    let server = S3Server::start();
    let source = fixture_cluster();
    let target = Cluster::start();
    let t = project(&server, &source, &target).file(
        "old.rhai",
        &script(
            r#"let db = postgres(secret("SOURCE_URL"), #{ bin_dir: "oldbin" });
store.backup("database", db.dump(), key);"#,
        ),
    );
    for tool in ["pg_dump", "pg_dumpall"] {
        let path = t.path().join("oldbin").join(tool);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho '{tool} (PostgreSQL) 12.22'\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    t.again(&["run", "old.rhai"])
        .code(1)
        .stderr_has("pg_dump is version 12 but the server runs PostgreSQL")
        .stderr_has("postgresql-client-");
    assert!(server.snapshot().is_empty());
    let t = t.file(
        "missing.rhai",
        &script(
            r#"let db = postgres(secret("SOURCE_URL"), #{ bin_dir: "nowhere" });
store.backup("database", db.dump(), key);"#,
        ),
    );
    t.again(&["run", "missing.rhai"])
        .code(1)
        .stderr_has("pg_dump was not found in nowhere")
        .stderr_has("apt-get install postgresql-client");
}

#[test]
fn pg_check_reports_health_as_a_result_the_script_branches_on() {
    let source = fixture_cluster();
    let t = Test::new()
        .env("DATABASE_URL", &source.url("app"))
        .env("DOWN_URL", "postgres://postgres:pw@127.0.0.1:9/app?sslmode=disable")
        .file(
            "check.rhai",
            r#"runbook(#{ title: "Checks" });
let db = postgres(secret("DATABASE_URL"));
let plain = pg_check(secret("DATABASE_URL"));
log(`plain ok=${plain.ok} attempts=${plain.attempts} detail=${plain.detail}`);
let counted = pg_check(db, #{ query: "SELECT count(*) FROM app.accounts", expect: 3 });
log(`counted ok=${counted.ok} detail=${counted.detail}`);
let wrong = pg_check(db, #{ query: "SELECT value->>'live' FROM public.settings WHERE key = 'mode'", expect: "false" });
log(`wrong ok=${wrong.ok} detail=${wrong.detail}`);
let down = pg_check(secret("DOWN_URL"), #{ retries: 1, interval: "10ms", timeout: "3s" });
log(`down ok=${down.ok} attempts=${down.attempts} detail=${down.detail}`);"#,
        )
        .args(&["run", "check.rhai"]);
    let out = t.run();
    out.code(0)
        .stdout_has("plain ok=true attempts=1 detail=query answered (1 rows)")
        .stdout_has("counted ok=true detail=query returned 3")
        .stdout_has("wrong ok=false detail=query returned true, expected false")
        .stdout_has(
            "down ok=false attempts=2 detail=cannot connect to postgres://postgres@127.0.0.1:9/app",
        );
    assert!(!format!("{out:?}").contains(PASSWORD));
    // Checks are reads: they run in a dry-run too.
    t.again(&["run", "--dry-run", "check.rhai"])
        .code(0)
        .stdout_has("counted ok=true");
}

#[test]
fn sslmode_is_honoured_as_libpq_means_it() {
    let server = S3Server::start();
    let source = fixture_cluster();
    let ca = source.enable_tls();
    let other = Cluster::start();
    let other_ca = other.enable_tls();
    let base = source.url("app").replace("?sslmode=disable", "");
    let target = Cluster::start();
    let t = project(&server, &source, &target)
        .env("REQUIRE_URL", &format!("{base}?sslmode=require"))
        .env("VERIFY_URL", &format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display()))
        .env("WRONG_CA_URL", &format!("{base}?sslmode=verify-full&sslrootcert={}", other_ca.display()))
        .env("PLAIN_URL", &format!("{base}?sslmode=disable"))
        .env("SOURCE_URL", &format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display()))
        .file(
            "tls.rhai",
            r#"runbook(#{ title: "TLS" });
const SQL = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
for name in ["REQUIRE_URL", "VERIFY_URL", "PLAIN_URL"] {
    let db = postgres(secret(name));
    log(`${name} tls=${db.query(SQL)[0].ssl}`);
}
try { postgres(secret("WRONG_CA_URL")).query(SQL); } catch (e) { log(`WRONG_CA_URL refused: ${e}`); }"#,
        );
    t.again(&["run", "tls.rhai"])
        .code(0)
        .stdout_has("REQUIRE_URL tls=true")
        .stdout_has("VERIFY_URL tls=true")
        .stdout_has("PLAIN_URL tls=false")
        .stdout_has("WRONG_CA_URL refused: cannot connect");
    // pg_dump gets the same sslmode and root certificate through the URL.
    t.again(&["run", "backup.rhai"])
        .code(0)
        .stdout_has("dumped 4 tables");
}

/// What a Supabase project has before anything is restored into it: the platform's `auth` and
/// `storage` schemas (empty tables, the platform's own migration rows) and reserved roles.
const SUPABASE_PLATFORM: &str = r#"
DO $$ BEGIN CREATE ROLE anon NOLOGIN; CREATE ROLE authenticated NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL; END $$;
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL);
CREATE TABLE auth.schema_migrations (version text PRIMARY KEY);
INSERT INTO auth.schema_migrations VALUES ('platform-20261101');
CREATE SCHEMA storage;
CREATE TABLE storage.objects (id int PRIMARY KEY, name text NOT NULL);
"#;

#[test]
fn a_supabase_style_dump_restores_into_a_new_project_keeping_users_and_platform_tables() {
    let server = S3Server::start();
    let source = fixture_cluster();
    source.psql("app", SUPABASE_PLATFORM);
    source.psql(
        "app",
        "INSERT INTO auth.users (email) VALUES ('a@mt5.example'), ('b@mt5.example'), ('c@mt5.example');
         INSERT INTO auth.schema_migrations VALUES ('platform-20261201');
         INSERT INTO storage.objects VALUES (1, 'reports/a.pdf'), (2, 'reports/b.pdf');
         CREATE TABLE public.profiles (user_id uuid PRIMARY KEY REFERENCES auth.users(id), name text);
         INSERT INTO public.profiles SELECT id, split_part(email, '@', 1) FROM auth.users;
         ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
         CREATE POLICY \"own profile\" ON public.profiles FOR SELECT TO authenticated USING (true);",
    );
    // A new project: the platform schemas exist, with nothing of the application.
    let target = Cluster::start();
    target.psql("postgres", "CREATE DATABASE app");
    target.psql("app", SUPABASE_PLATFORM);
    let t = project(&server, &source, &target).file(
        "supabase.rhai",
        &script(
            r#"let db = postgres(secret("SOURCE_URL"));
let set = step("Dump", || store.backup("database", db.dump(#{ supabase: true }), key));
log(`dumped ${set.tables} tables, ${set.rows} rows`);
let target = postgres(secret("TARGET_URL"));
let r = step("Restore", || target.restore(store, set, key, #{ target_db: "app" }));
log(`restored ${r.tables} tables, ${r.rows} rows, verified=${r.verified}`);"#,
        ),
    );
    // 4 fixture tables + profiles + auth.users + storage.objects; the platform's migration
    // table is neither dumped nor compared.
    t.again(&["run", "supabase.rhai"])
        .code(0)
        .stdout_has("dumped 7 tables, 353 rows")
        .stdout_has("restored 7 tables, 353 rows, verified=true");
    assert_eq!(target.psql("app", "SELECT count(*) FROM auth.users"), "3");
    assert_eq!(
        target.psql(
            "app",
            "SELECT string_agg(version, ',' ORDER BY version) FROM auth.schema_migrations"
        ),
        "platform-20261101",
        "the platform's own migration rows are left alone"
    );
    assert_eq!(
        target.psql("app", "SELECT string_agg(p.name, ',' ORDER BY p.name) FROM public.profiles p JOIN auth.users u ON u.id = p.user_id"),
        "a,b,c"
    );
    assert_eq!(seen_by(&target, "app", "trader"), "2/160/1309.00");
    let manifest = server.manifest("database", &server.set_ids("database")[0]);
    for part in [
        "roles.sql.zst.rbk",
        "schema.pgdump.zst.rbk",
        "data.pgdump.zst.rbk",
        "\"replica\": true",
    ] {
        assert!(manifest.contains(part), "{part} not in the manifest");
    }
}
