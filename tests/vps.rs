//! The `vps(...)` script namespace end to end: the `runbook` binary runs small scripts against the
//! Hetzner and Contabo API doubles and a real qcow2 image (`qemu-img`) — dry-runs that list for
//! real and change nothing, retention that never touches foreign snapshots, confirmations before
//! restores, and boot verification that never leaves a server behind.

mod support;

#[path = "support/contabo_double.rs"]
mod contabo_double;
#[path = "support/hetzner_double.rs"]
mod hetzner_double;

use std::process::Command;

use serde_json::json;

use contabo_double::{ContaboDouble, INSTANCE_ID};
use hetzner_double::HetznerDouble;
use support::Test;

const TOKEN: &str = "hcloud-token-0123456789abcdef";

/// A project whose `run.rhai` opens server 42 of the double as `server`, then runs `body`.
fn hetzner_project(d: &HetznerDouble, body: &str) -> Test {
    let script = format!(
        "runbook(#{{ title: \"VPS\", params: #{{ verdict: true }} }});\n\
         let server = vps(\"hetzner\", #{{ token: secret(\"HCLOUD_TOKEN\"), server: \"web-1\", api: \"{}\" }});\n\
         {body}\n",
        d.url
    );
    Test::new()
        .file("run.rhai", &script)
        .env("HCLOUD_TOKEN", TOKEN)
}

/// Six of ours (ids oldest first) and two foreign snapshots.
fn six_ours_two_foreign(d: &HetznerDouble) -> (Vec<i64>, Vec<i64>) {
    let ours: Vec<i64> = (1..=6)
        .rev()
        .map(|days| d.add_image(days, "available", HetznerDouble::our_labels()))
        .collect();
    let foreign = vec![
        d.add_image(20, "available", json!({})),
        d.add_image(
            2,
            "available",
            json!({"managed-by": "someone-else", "runbook-server": "42"}),
        ),
    ];
    (ours, foreign)
}

fn image_ids(d: &HetznerDouble) -> Vec<i64> {
    d.state.lock().unwrap().images.keys().copied().collect()
}

const WEEKLY: &str = r#"
log(`listed ${server.snapshots().len()} snapshots of ${server}`);
let run = step("Weekly snapshot", || server.snapshot_and_prune("weekly", #{ keep_last: 4 }));
log(`created ${run.created.id}; pruned ${run.pruned.len()}`);
"#;

#[test]
fn dry_run_lists_real_snapshots_and_changes_nothing() {
    let d = HetznerDouble::start(TOKEN);
    let (ours, _) = six_ours_two_foreign(&d);
    let before = image_ids(&d);
    let t = hetzner_project(&d, WEEKLY);
    let out = t.again(&["run", "--dry-run", "run.rhai"]);
    out.code(0)
        .stdout_has("listed 6 snapshots of Vps(hetzner server web-1)")
        .stdout_has("would take a snapshot \"weekly\" of hetzner server web-1")
        .stdout_has("delete 3 snapshot(s)")
        .stdout_has("created (dry-run: not created); pruned 3");
    // Exactly our three oldest go; the three newest stay.
    let plan = out
        .stdout
        .lines()
        .find(|l| l.contains("delete 3 snapshot(s)"))
        .unwrap();
    let (going, staying) = plan.split_once("keeping").unwrap();
    for id in &ours[..3] {
        assert!(going.contains(&id.to_string()), "{plan}");
    }
    for id in &ours[3..] {
        assert!(staying.contains(&id.to_string()) && !going.contains(&id.to_string()));
    }
    assert_eq!(image_ids(&d), before, "the double's state is unchanged");
    assert_eq!(d.count("POST", "/"), 0);
    assert_eq!(d.count("DELETE", "/"), 0);
    assert!(d.count("GET", "/images") >= 1, "the list ran for real");
}

#[test]
fn live_snapshot_and_prune_keeps_four_of_ours_and_never_touches_foreign() {
    let d = HetznerDouble::start(TOKEN);
    let (ours, foreign) = six_ours_two_foreign(&d);
    let t = hetzner_project(&d, WEEKLY);
    t.again(&["run", "--yes", "run.rhai"])
        .code(0)
        .stdout_has("pruned 3");
    let ids = image_ids(&d);
    for id in &foreign {
        assert!(ids.contains(id), "foreign snapshot {id} kept");
    }
    for id in &ours[..3] {
        assert!(!ids.contains(id), "old snapshot {id} pruned");
    }
    let st = d.state.lock().unwrap();
    let ours_left = st
        .images
        .values()
        .filter(|i| i["labels"]["managed-by"] == "runbook")
        .count();
    assert_eq!(ours_left, 4, "3 old + the new one");
    assert_eq!(st.images.len(), 6);
}

#[test]
fn prune_alone_plans_exactly_and_skips_the_gate_when_nothing_goes() {
    let d = HetznerDouble::start(TOKEN);
    let (ours, _) = six_ours_two_foreign(&d);
    let t = hetzner_project(
        &d,
        r#"let r = server.prune(#{ keep_last: 4 });
log(`deleted ${r.deleted.len()} kept ${r.kept.len()}`);"#,
    );
    // Without a terminal and without --yes a destructive prune stops (exit 2), deleting nothing.
    t.again(&["run", "run.rhai"])
        .code(2)
        .stderr_has("confirmation needed");
    assert_eq!(d.count("DELETE", "/"), 0);
    t.again(&["run", "--yes", "run.rhai"])
        .code(0)
        .stdout_has("deleted 2 kept 4");
    let ids = image_ids(&d);
    assert!(!ids.contains(&ours[0]) && !ids.contains(&ours[1]) && ids.contains(&ours[2]));
    // Nothing left to delete: no confirmation needed, even without --yes.
    t.again(&["run", "run.rhai"])
        .code(0)
        .stdout_has("nothing to delete")
        .stdout_has("deleted 0 kept 4");
}

#[test]
fn failed_create_prunes_nothing() {
    let d = HetznerDouble::start(TOKEN);
    six_ours_two_foreign(&d);
    d.state.lock().unwrap().fail_next_action =
        Some(("image_create_failed".into(), "disk snapshot failed".into()));
    let t = hetzner_project(&d, WEEKLY);
    let out = t.again(&["run", "--yes", "run.rhai"]);
    out.code(1);
    assert!(
        out.stderr.contains("image_create_failed") || out.stdout.contains("image_create_failed"),
        "{out}"
    );
    assert_eq!(d.count("DELETE", "/"), 0, "nothing pruned");
    let st = d.state.lock().unwrap();
    assert_eq!(
        st.images
            .values()
            .filter(|i| i["status"] == "available")
            .count(),
        8,
        "every old snapshot is still there"
    );
}

#[test]
fn snapshot_failure_is_catchable() {
    let d = HetznerDouble::start(TOKEN);
    d.state.lock().unwrap().fail_next_action = Some(("boom".into(), "no space".into()));
    let t = hetzner_project(
        &d,
        r#"try { server.snapshot("x"); } catch (e) { log(`caught: ${e.kind}: ${e.message}`); }"#,
    );
    t.again(&["run", "run.rhai"])
        .code(0)
        .stdout_has("caught: failed:")
        .stdout_has("boom");
}

#[test]
fn restore_needs_confirmation_and_stops_before_the_api_without_a_terminal() {
    let d = HetznerDouble::start(TOKEN);
    let id = d.add_image(1, "available", HetznerDouble::our_labels());
    let t = hetzner_project(
        &d,
        &format!(r#"step("Restore", || server.restore("{id}"));"#),
    );
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has(&format!("rebuild hetzner server web-1 from snapshot {id}"))
        .stdout_has("disk is overwritten");
    t.again(&["run", "run.rhai"])
        .code(2)
        .stderr_has("confirmation needed but there is no terminal")
        .stderr_has("--yes");
    assert_eq!(d.count("POST", "/"), 0, "no rebuild was asked for");
    assert!(d.state.lock().unwrap().rebuilds.is_empty());
    t.again(&["run", "--yes", "run.rhai"]).code(0);
    assert_eq!(d.state.lock().unwrap().rebuilds.len(), 1);
}

#[test]
fn boot_verify_returns_the_verdict_and_always_deletes_the_copy() {
    let d = HetznerDouble::start(TOKEN);
    let id = d.add_image(1, "available", HetznerDouble::our_labels());
    let t = hetzner_project(
        &d,
        &format!(
            r#"let verdict = server.boot_verify("{id}", |copy| {{ log(`CHECKING ${{copy.id}} at ${{copy.address}}`); param("verdict") }});
log(`verdict ${{verdict}}`);
try {{
    server.boot_verify("{id}", |copy| {{ throw "health check exploded"; }});
}} catch (e) {{ log(`caught ${{e}}`); }}"#
        ),
    );

    // Dry-run: the check is not called and nothing is booted.
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has("boot a temporary copy of hetzner server web-1")
        .stdout_lacks("CHECKING")
        .stdout_has("verdict true");
    assert_eq!(d.count("POST", "/servers"), 0);

    // Live, check says false, then a check that throws: the copies are gone either way.
    t.again(&["run", "run.rhai", "--param", "verdict=false"])
        .code(0)
        .stdout_has("CHECKING")
        .stdout_has("verdict false")
        .stdout_has("caught")
        .stdout_has("health check exploded");
    assert_eq!(
        d.state.lock().unwrap().created_servers.len(),
        2,
        "two copies were booted"
    );
    assert!(d.verify_servers().is_empty(), "no copy left behind");
    assert_eq!(d.count("DELETE", "/servers/"), 2);

    t.again(&["run", "run.rhai", "--param", "verdict=true"])
        .code(0)
        .stdout_has("verdict true");
    assert!(d.verify_servers().is_empty());
}

#[test]
fn plain_string_token_is_refused_and_unknown_options_are_named() {
    let t = Test::new()
        .file(
            "plain.rhai",
            r#"runbook(#{ title: "x" }); let s = vps("hetzner", #{ token: "hcloud-plain-text", server: "1" });"#,
        )
        .file(
            "typo.rhai",
            r#"runbook(#{ title: "x" }); let s = vps("hetzner", #{ token: secret("HCLOUD_TOKEN"), server: "1", sever: "2" });"#,
        )
        .file(
            "contabo.rhai",
            r#"runbook(#{ title: "x" }); let s = vps("contabo", #{ client_id: "c", client_secret: secret("HCLOUD_TOKEN"), user: "u", password: "pw", instance: 1 });"#,
        )
        .file(
            "provider.rhai",
            r#"runbook(#{ title: "x" }); let s = vps("linode", #{});"#,
        )
        .env("HCLOUD_TOKEN", TOKEN);
    t.again(&["run", "plain.rhai"])
        .code(2)
        .stderr_has("option `token` must come from secret(\"NAME\")");
    t.again(&["run", "typo.rhai"])
        .code(2)
        .stderr_has("unknown option `sever`")
        .stderr_has("token, server, api");
    t.again(&["run", "contabo.rhai"])
        .code(2)
        .stderr_has("option `password` must come from secret(\"NAME\")");
    t.again(&["run", "provider.rhai"])
        .code(2)
        .stderr_has("unknown provider \"linode\"");
}

#[test]
fn printing_a_handle_or_a_failure_never_shows_the_token() {
    let d = HetznerDouble::start("another-token");
    let t = hetzner_project(
        &d,
        r#"log(`${server}`); try { server.snapshots(); } catch (e) { log(`caught ${e}`); }"#,
    );
    let out = t.again(&["run", "run.rhai"]);
    out.code(0)
        .stdout_has("Vps(hetzner server web-1)")
        .stdout_has("caught");
    assert!(
        !out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN),
        "{out}"
    );
}

// Contabo ------------------------------------------------------------------------------------

fn contabo_project(d: &ContaboDouble, body: &str) -> Test {
    let script = format!(
        "runbook(#{{ title: \"VPS\" }});\n\
         let server = vps(\"contabo\", #{{ client_id: \"cid\", client_secret: secret(\"CONTABO_CLIENT_SECRET\"),\n\
             user: \"ops@example.com\", password: secret(\"CONTABO_API_PASSWORD\"), instance: {INSTANCE_ID},\n\
             prefix: \"rb-\", api: \"{}\", auth_url: \"{}\" }});\n\
         {body}\n",
        d.url, d.auth_url
    );
    Test::new()
        .file("run.rhai", &script)
        .env("CONTABO_CLIENT_SECRET", "csecret-xyz")
        .env("CONTABO_API_PASSWORD", "api-pass-xyz")
}

#[test]
fn contabo_snapshot_and_prune_keeps_four_and_never_touches_foreign() {
    let d = ContaboDouble::start("cid", "csecret-xyz", "ops@example.com", "api-pass-xyz");
    d.state.lock().unwrap().limit = 10;
    d.add_snapshot("manual before migration", 200);
    for h in 1..=6 {
        d.add_snapshot(&format!("rb-2026-11-0{h}-0300"), 100 - h * 10);
    }
    d.add_snapshot("hand made", 1);
    let t = contabo_project(&d, WEEKLY);
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has("listed 8 snapshots")
        .stdout_has("delete 3 snapshot(s)");
    assert_eq!(d.names().len(), 8, "the dry-run changed nothing");
    t.again(&["run", "--yes", "run.rhai"])
        .code(0)
        .stdout_has("pruned 3");
    let names = d.names();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&"manual before migration".to_string()));
    assert!(names.contains(&"hand made".to_string()));
    assert_eq!(names.iter().filter(|n| n.starts_with("rb-")).count(), 4);
    for gone in [
        "rb-2026-11-01-0300",
        "rb-2026-11-02-0300",
        "rb-2026-11-03-0300",
    ] {
        assert!(!names.contains(&gone.to_string()), "{names:?}");
    }
}

#[test]
fn contabo_restore_plan_names_the_newer_snapshots_it_deletes() {
    let d = ContaboDouble::start("cid", "csecret-xyz", "ops@example.com", "api-pass-xyz");
    d.state.lock().unwrap().limit = 10;
    let old = d.add_snapshot("rb-2026-11-01-0300", 50);
    d.add_snapshot("rb-2026-11-02-0300", 20);
    d.add_snapshot("hand made", 1);
    let t = contabo_project(
        &d,
        &format!(r#"step("Roll back", || server.restore("{old}"));"#),
    );
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has("Contabo deletes every newer snapshot")
        .stdout_has("rb-2026-11-02-0300")
        .stdout_has("hand made");
    t.again(&["run", "run.rhai"]).code(2);
    assert!(d.state.lock().unwrap().rollbacks.is_empty());
    assert_eq!(d.count("POST", "/v1/compute"), 0);
    t.again(&["run", "--yes", "run.rhai"]).code(0);
    assert_eq!(d.state.lock().unwrap().rollbacks, vec![old]);
    assert_eq!(d.names(), ["rb-2026-11-01-0300"]);
    // Contabo boots no copies: said up front, in a dry-run too.
    let t = contabo_project(&d, r#"server.boot_verify("1", |c| true);"#);
    t.again(&["run", "--dry-run", "run.rhai"])
        .code(2)
        .stderr_has("cannot boot a copy");
}

// qemu ---------------------------------------------------------------------------------------

fn qemu_tags(disk: &std::path::Path) -> Vec<String> {
    let out = Command::new("qemu-img")
        .args(["snapshot", "-l"])
        .arg(disk)
        .output()
        .expect("qemu-img is installed");
    assert!(out.status.success());
    runbook::host::snapshot::qemu::parse_list(&String::from_utf8_lossy(&out.stdout))
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[test]
fn qemu_image_snapshot_prune_and_restore_for_real() {
    let t = Test::new().file(
        "run.rhai",
        r#"runbook(#{ title: "Disk" });
let disk = vps("qemu", #{ image: "vm/disk.qcow2" });
let a = step("First", || disk.snapshot("before upgrade"));
let run = step("Second", || disk.snapshot_and_prune("weekly", #{ keep_last: 1 }));
log(`pruned ${run.pruned.len()}: ${run.pruned.len() == 1 && run.pruned[0].id == a.id}`);
step("Restore", || disk.restore(run.created));
log(`left ${disk.snapshots().len()}`);
"#,
    );
    std::fs::create_dir_all(t.path().join("vm")).unwrap();
    let disk = t.path().join("vm/disk.qcow2");
    let s = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("16M")
        .status()
        .expect("qemu-img is installed");
    assert!(s.success());
    let s = Command::new("qemu-img")
        .args(["snapshot", "-c", "hand made"])
        .arg(&disk)
        .status()
        .unwrap();
    assert!(s.success());

    t.again(&["run", "--dry-run", "run.rhai"])
        .code(0)
        .stdout_has("would take a snapshot \"before upgrade\" of qemu image")
        .stdout_has("apply snapshot the one this run takes first");
    assert_eq!(
        qemu_tags(&disk),
        ["hand made"],
        "the dry-run changed nothing"
    );

    t.again(&["run", "--yes", "run.rhai"])
        .code(0)
        .stdout_has("pruned 1: true")
        .stdout_has("left 2");
    let tags = qemu_tags(&disk);
    assert_eq!(tags.len(), 2, "{tags:?}");
    assert!(tags.contains(&"hand made".to_string()));
    assert!(tags
        .iter()
        .any(|t| t.starts_with("runbook-") && t.ends_with("-weekly")));
}
