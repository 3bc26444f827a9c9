//! Object storage against a real S3-protocol server on 127.0.0.1 (s3s + s3s-fs, SigV4):
//! round trips across the multipart threshold, listing and prune, auth and bucket errors,
//! faults (server stopped mid-upload, transient 5xx), corruption, and dry-runs.

#[path = "support/s3.rs"]
mod s3;
mod support;

use std::sync::atomic::Ordering;

use s3::{S3Server, ACCESS_KEY, SECRET_KEY};
use support::Test;

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

const STORE: &str = r#"
fn open_store() {
    storage(`s3://${env("S3_BUCKET", "backups")}/mt5`, #{
        endpoint: env("S3_ENDPOINT"), region: "us-east-1",
        access_key: secret("S3_KEY"), secret_key: secret("S3_SECRET"),
        allow_http: true, retries: 3, retry_timeout: "4s" })
}
"#;

fn script(body: &str) -> String {
    format!("{STORE}\nrunbook(#{{ title: \"S3\" }});\nlet key = key(secret(\"BACKUP_ENCRYPTION_KEY\"));\nlet store = open_store();\n{body}")
}

/// A project whose app folder holds `random_mib` MiB of incompressible data plus small files.
fn project(server: &S3Server, random_mib: usize) -> Test {
    let mut state = 0x2545F4914F6CDD1Du64;
    let blob: Vec<u8> = (0..random_mib * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    let t = Test::new()
        .file("app/.env", "A=1\n")
        .file("app/config/service.json", "{}\n")
        .file(
            "backup.rhai",
            &script(r#"let set = step("Back up", || store.backup("app-data", archive(#{ root: "app", paths: [".env", "config", "data"] }), key));
log(`made ${set.id} stored=${set.stored_bytes}`);"#),
        )
        .file(
            "restore.rhai",
            &script(r#"let set = step("Find", || store.find("app-data", "latest"));
step("Verify", || store.verify(set, key));
step("Restore", || store.restore_files(set, key, "restored"));"#),
        );
    std::fs::create_dir_all(t.path().join("app/data")).unwrap();
    std::fs::write(t.path().join("app/data/blob.bin"), blob).unwrap();
    with_server(t, server)
}

fn with_server(t: Test, server: &S3Server) -> Test {
    t.env("S3_ENDPOINT", &server.endpoint)
        .env("S3_KEY", ACCESS_KEY)
        .env("S3_SECRET", SECRET_KEY)
        .env("BACKUP_ENCRYPTION_KEY", KEY)
}

fn has_manifest(server: &S3Server, id: &str) -> bool {
    server
        .bucket_dir()
        .join("mt5/app-data")
        .join(id)
        .join("manifest.json")
        .exists()
}

#[test]
fn backup_and_restore_across_the_multipart_threshold() {
    let server = S3Server::start();
    let t = project(&server, 20); // 20 MiB incompressible: three 8 MiB parts
    t.again(&["run", "backup.rhai"]).code(0).stdout_has("made ");
    assert!(
        server.faults.parts.load(Ordering::SeqCst) >= 3,
        "multipart upload used"
    );
    t.again(&["run", "restore.rhai"])
        .code(0)
        .stdout_has("✓ Restore");
    assert_eq!(
        std::fs::read(t.path().join("restored/data/blob.bin")).unwrap(),
        std::fs::read(t.path().join("app/data/blob.bin")).unwrap()
    );
}

#[test]
fn transient_server_errors_are_retried() {
    let server = S3Server::start();
    let t = project(&server, 1);
    server.faults.fail_next.store(3, Ordering::SeqCst);
    t.again(&["run", "backup.rhai"]).code(0);
    assert_eq!(server.faults.injected.load(Ordering::SeqCst), 3);
    server.faults.fail_status.store(500, Ordering::SeqCst);
    server.faults.fail_next.store(2, Ordering::SeqCst);
    t.again(&["run", "restore.rhai"]).code(0);
}

#[test]
fn a_server_stopped_mid_upload_fails_clearly_leaves_no_manifest_and_a_rerun_succeeds() {
    let server = S3Server::start();
    let t = project(&server, 20);
    t.again(&["run", "backup.rhai"]).code(0);
    let first = server.set_ids("app-data");
    assert_eq!(first.len(), 1);

    server.faults.stop_after_parts.store(2, Ordering::SeqCst);
    let out = t.again(&["run", "backup.rhai"]);
    out.code(1).stderr_has("backup of \"app-data\" stopped");
    let ids = server.set_ids("app-data");
    for id in &ids {
        if id != &first[0] {
            assert!(
                !has_manifest(&server, id),
                "an interrupted set must not be complete"
            );
        }
    }

    let server = server.restart();
    let t = with_server(t, &server);
    t.put(
        "latest.rhai",
        &script(r#"log(`latest ${store.latest("app-data").id}`);"#),
    )
    .again(&["run", "latest.rhai"])
    .code(0)
    .stdout_has(&format!("latest {}", first[0]));
    t.again(&["run", "backup.rhai"]).code(0);
    let complete: Vec<String> = server
        .set_ids("app-data")
        .into_iter()
        .filter(|id| has_manifest(&server, id))
        .collect();
    assert_eq!(complete.len(), 2, "the rerun made a second complete set");
}

#[test]
fn wrong_credentials_and_a_missing_bucket_give_clear_errors() {
    let server = S3Server::start();
    let t = project(&server, 1);
    t.again(&["run", "backup.rhai"]).code(0);
    let t = t.env("S3_SECRET", "not-the-secret-key-at-all");
    t.again(&["run", "restore.rhai"])
        .code(1)
        .stderr_has("authentication failed")
        .stderr_has("check the access key");
    let t = t
        .env("S3_SECRET", SECRET_KEY)
        .env("S3_BUCKET", "no-such-bucket");
    t.again(&["run", "backup.rhai"])
        .code(1)
        .stderr_has("bucket does not exist");
}

#[test]
fn a_corrupted_object_is_named_with_its_set_by_verify() {
    let server = S3Server::start();
    let t = project(&server, 1);
    t.again(&["run", "backup.rhai"]).code(0);
    let id = server.set_ids("app-data")[0].clone();
    let object = server
        .bucket_dir()
        .join("mt5/app-data")
        .join(&id)
        .join("data.tar.zst.rbk");
    let mut data = std::fs::read(&object).unwrap();
    let at = data.len() / 2;
    data[at] ^= 1;
    std::fs::write(&object, data).unwrap();
    t.again(&["run", "restore.rhai"])
        .code(1)
        .stderr_has(&id)
        .stderr_has("data.tar.zst.rbk");
    assert!(!t.path().join("restored").exists());
}

#[test]
fn a_dry_run_reads_for_real_and_leaves_the_bucket_byte_for_byte_unchanged() {
    let server = S3Server::start();
    let t = project(&server, 1);
    t.again(&["run", "backup.rhai"]).code(0);
    let before = server.snapshot();
    t.again(&["run", "--dry-run", "backup.rhai"])
        .code(0)
        .stdout_has("would back up 3 files");
    t.put(
        "prune.rhai",
        &script(
            r#"for s in store.list("app-data") { log(`exists ${s.id}`); }
store.prune("app-data", #{ keep_last: 1 });"#,
        ),
    )
    .again(&["run", "--dry-run", "prune.rhai"])
    .code(0)
    .stdout_has("exists ");
    t.again(&["run", "--dry-run", "restore.rhai"])
        .code(0)
        .stdout_has("would restore 3 files");
    assert_eq!(before, server.snapshot(), "the bucket must be unchanged");
}

#[test]
fn prune_on_s3_deletes_whole_old_sets() {
    let server = S3Server::start();
    let t = project(&server, 1);
    t.again(&["run", "backup.rhai"]).code(0);
    let real = server.set_ids("app-data")[0].clone();
    let base = server.bucket_dir().join("mt5/app-data");
    let created = chrono::NaiveDateTime::parse_from_str(&real[..18], "%Y-%m-%dT%H%M%SZ").unwrap();
    for day in 1..42 {
        let id = format!(
            "{}-old",
            (created - chrono::Duration::days(day)).format("%Y-%m-%dT%H%M%SZ")
        );
        std::fs::create_dir_all(base.join(&id)).unwrap();
        for entry in std::fs::read_dir(base.join(&real)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), base.join(&id).join(entry.file_name())).unwrap();
        }
    }
    t.file(
        "prune.rhai",
        &script(
            r#"let r = store.prune("app-data", #{ keep_within: "30d" });
log(`deleted=${r.deleted.len()} kept=${r.kept.len()}`);
log(`listed=${store.list("app-data").len()}`);"#,
        ),
    )
    .again(&["run", "prune.rhai", "--yes"])
    .code(0)
    .stdout_has("deleted=11 kept=31")
    .stdout_has("listed=31");
}

#[test]
fn storage_options_are_checked_by_name_and_credentials_must_be_secrets() {
    let server = S3Server::start();
    let t = project(&server, 0);
    t.put(
        "typo.rhai",
        r#"runbook(#{ title: "T" }); storage("s3://backups/x", #{ endppoint: "http://x" });"#,
    )
    .again(&["run", "typo.rhai"])
    .code(2)
    .stderr_has("unknown option `endppoint`");
    t.put(
        "plain.rhai",
        r#"runbook(#{ title: "T" }); storage("s3://backups/x", #{ access_key: "AKIA123" });"#,
    )
    .again(&["run", "plain.rhai"])
    .code(2)
    .stderr_has("must come from secret(");
    t.put(
        "supa.rhai",
        r#"runbook(#{ title: "T" });
log(storage("s3://backups/x", #{ supabase_project: "abcdefghijklmnopqrst", region: "eu-central-1" }).to_string());"#,
    )
    .again(&["run", "supa.rhai"])
    .code(0)
    .stdout_has("https://abcdefghijklmnopqrst.supabase.co/storage/v1/s3");
}

#[test]
fn sampled_verification_reads_a_share_of_segments_and_catches_damage_in_them() {
    let server = S3Server::start();
    let t = project(&server, 12);
    t.again(&["run", "backup.rhai"]).code(0);
    t.put(
        "sample.rhai",
        &script(
            r#"let set = store.find("app-data", "latest");
let r = store.verify(set, key, #{ sample: "10%" });
log(`checked=${r.checked_segments} of ${r.total_segments}`);"#,
        ),
    );
    t.again(&["run", "sample.rhai"])
        .code(0)
        .stdout_has("checked=2 of 13");
    // Damage the last segment: always in the sample.
    let id = server.set_ids("app-data")[0].clone();
    let object = server
        .bucket_dir()
        .join("mt5/app-data")
        .join(&id)
        .join("data.tar.zst.rbk");
    let mut data = std::fs::read(&object).unwrap();
    let at = data.len() - 30;
    data[at] ^= 0x10;
    std::fs::write(&object, data).unwrap();
    t.again(&["run", "sample.rhai"])
        .code(1)
        .stderr_has("failed authentication")
        .stderr_has(&id);
}

#[test]
fn the_cli_verifies_a_set_in_s3_with_aws_environment_credentials() {
    let server = S3Server::start();
    let t = project(&server, 1);
    t.again(&["run", "backup.rhai"]).code(0);
    let id = server.set_ids("app-data")[0].clone();
    std::fs::write(t.path().join("k"), KEY).unwrap();
    let t = t
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT", &server.endpoint)
        .env("AWS_ALLOW_HTTP", "true");
    t.again(&[
        "verify",
        &format!("s3://backups/mt5/app-data/{id}"),
        "--key-file",
        "k",
    ])
    .code(0)
    .stdout_has("3 files");
}

#[test]
fn conditional_create_protects_manifests_and_the_store_lock() {
    use runbook::context::secrets::Secret;
    use runbook::host::runtime::block_on;
    use runbook::host::store::backend::{Backend, StoreOptions};
    let server = S3Server::start();
    let backend = Backend::open_with(
        "s3://backups/mt5",
        &StoreOptions {
            endpoint: Some(server.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key: Some(Secret::new("K", ACCESS_KEY)),
            secret_key: Some(Secret::new("S", SECRET_KEY)),
            allow_http: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(block_on(backend.put_if_absent("x/manifest.json", b"first".to_vec())).unwrap());
    assert!(!block_on(backend.put_if_absent("x/manifest.json", b"second".to_vec())).unwrap());
    assert_eq!(
        &block_on(backend.get_bytes("x/manifest.json"))
            .unwrap()
            .unwrap()[..],
        b"first"
    );

    // A live lock held by another host stops prune with exit 4.
    let t = project(&server, 0);
    t.again(&["run", "backup.rhai"]).code(0);
    let held = format!(
        "{{\"holder\":\"other-host (pid 1, run r)\",\"created\":\"{}\"}}",
        chrono::Utc::now().to_rfc3339()
    );
    assert!(block_on(backend.put_if_absent("app-data/.runbook-lock", held.into_bytes())).unwrap());
    let t = t.env("BACKUP_DUMMY", "1");
    t.put(
        "prune.rhai",
        &script(r#"store.prune("app-data", #{ keep_last: 1 }); store.cleanup_incomplete("app-data", "0s");"#),
    );
    // Nothing to delete: no lock needed.
    t.again(&["run", "prune.rhai", "--yes"]).code(0);
    std::fs::create_dir_all(
        server
            .bucket_dir()
            .join("mt5/app-data/2020-01-01T000000Z-crashed"),
    )
    .unwrap();
    std::fs::write(
        server
            .bucket_dir()
            .join("mt5/app-data/2020-01-01T000000Z-crashed/data.tar.zst.rbk"),
        "partial",
    )
    .unwrap();
    t.again(&["run", "prune.rhai", "--yes"])
        .code(4)
        .stderr_has("is locked by other-host");
}
