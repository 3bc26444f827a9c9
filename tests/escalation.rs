//! Health checks from scripts, failure hooks, notifications and escalation: a runbook that fails
//! mid-way prints its contacts and escalation path, sends the failure notification, and exits 1;
//! a failing receiver changes nothing; the webhook URL never appears in any output.

#[path = "support/http_double.rs"]
mod http_double;
mod support;

use http_double::{HttpDouble, Reply};
use support::Test;

const FAILING: &str = r##"
runbook(#{
    title: "Restore MT5",
    rto: "2h",
    contacts: [#{ role: "DevOps lead", name: "Ana", reach: "#ops on Slack" },
               #{ role: "Vendor support", name: "Hetzner", reach: "see 1Password: Hetzner support" }],
    escalation: ["after 15m: call the DevOps lead", "after 30m: open a Hetzner support ticket"],
});
on_failure(|run| notify(secret("ALERT_WEBHOOK_URL"),
    `${run.title} failed at "${run.failed_step}": ${run.error}`,
    #{ severity: "critical", title: "DR runbook failed", flavour: "generic",
       fields: #{ run: run.run_id, contacts: run.contacts.len() } }));
on_success(|run| log("success hook ran"));
step("Check the service", || http_check(env("SERVICE_URL")));
step("Restore", || read_file("missing-backup.tar"));
step("Never", || 1);
"##;

#[test]
fn a_failed_run_prints_contacts_sends_the_notification_and_exits_1() {
    let service = HttpDouble::start(Reply::new(200, "{\"status\":\"ok\"}"));
    let receiver = HttpDouble::start(Reply::new(200, "ok"));
    let webhook = receiver.url("/hooks/T000/B000/very-secret-token");
    let t = Test::new()
        .file("r.rhai", FAILING)
        .env("ALERT_WEBHOOK_URL", &webhook)
        .env("SERVICE_URL", &service.url("/health"));
    let out = t.again(&["run", "r.rhai"]);
    out.code(1)
        .stdout_has("✓ Check the service")
        .stdout_has("✗ Restore")
        .stderr_has("Contacts:")
        .stderr_has("DevOps lead: Ana — #ops on Slack")
        .stderr_has("Escalation:")
        .stderr_has("2. after 30m: open a Hetzner support ticket");
    let sent = receiver.requests();
    assert_eq!(sent.len(), 1, "one failure notification");
    let body: serde_json::Value = serde_json::from_str(&sent[0].text()).unwrap();
    assert_eq!(body["title"], "DR runbook failed");
    assert_eq!(body["severity"], "critical");
    assert_eq!(
        body["message"],
        "Restore MT5 failed at \"Restore\": reading missing-backup.tar: No such file or directory (os error 2)"
    );
    assert_eq!(body["fields"]["contacts"], "2");
    assert!(body["fields"]["run"].as_str().unwrap().contains("-r-"));
    for text in [&out.stdout, &out.stderr] {
        assert!(
            !text.contains("very-secret-token"),
            "the webhook URL leaked:\n{out}"
        );
    }
    for (path, journal) in t.journals() {
        assert!(
            !journal.contains("very-secret-token"),
            "{} leaks",
            path.display()
        );
    }
}

#[test]
fn a_failing_receiver_does_not_mask_the_failure_or_change_the_exit_code() {
    let service = HttpDouble::start(Reply::new(200, "ok"));
    let receiver = HttpDouble::start(Reply::new(500, "receiver down"));
    let webhook = receiver.url("/hook/secret-path-123456");
    let out = Test::new()
        .file("r.rhai", FAILING)
        .env("ALERT_WEBHOOK_URL", &webhook)
        .env("SERVICE_URL", &service.url("/health"))
        .again(&["run", "r.rhai"]);
    out.code(1)
        .stderr_has("reading missing-backup.tar")
        .stderr_has("an on_failure hook failed");
    assert!(!out.stderr.contains("secret-path-123456"), "{out}");
    assert!(!out.stdout.contains("secret-path-123456"), "{out}");
    assert!(
        receiver.requests().len() > 1,
        "the notification was retried"
    );
}

#[test]
fn checks_return_results_scripts_branch_on_and_run_in_a_dry_run() {
    let service =
        HttpDouble::start(Reply::new(200, "{\"db\":{\"ok\":true}}")).then(Reply::new(503, "down"));
    let receiver = HttpDouble::start(Reply::new(200, "ok"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let script = format!(
        r#"runbook(#{{ title: "Checks" }});
let first = http_check(env("SERVICE_URL"), #{{ timeout: "2s" }});
log(`first ok=${{first.ok}} status=${{first.status}} detail=${{first.detail}}`);
let again = http_check(env("SERVICE_URL"), #{{ json_path: #{{ path: "db.ok", equals: true }}, retries: 2, interval: "10ms" }});
log(`again ok=${{again.ok}} attempts=${{again.attempts}}`);
let tcp = tcp_check("127.0.0.1", {port}, #{{ timeout: "500ms" }});
log(`tcp ok=${{tcp.ok}}`);
let n = 0;
let w = wait_until(|| {{ n += 1; n >= 3 }}, #{{ timeout: "5s", interval: "10ms" }});
log(`wait ok=${{w.ok}} attempts=${{w.attempts}}`);
notify(secret("ALERT_WEBHOOK_URL"), "checks done");"#
    );
    let t = Test::new()
        .file("c.rhai", &script)
        .env("ALERT_WEBHOOK_URL", &receiver.url("/hook"))
        .env("SERVICE_URL", &service.url("/health"));
    t.again(&["run", "--dry-run", "c.rhai"])
        .code(0)
        .stdout_has("first ok=false status=503")
        .stdout_has("again ok=true")
        .stdout_has("tcp ok=false")
        .stdout_has("wait ok=true attempts=3")
        .stdout_has("would send the generic notification \"runbook\" (info) to ALERT_WEBHOOK_URL");
    assert!(receiver.requests().is_empty(), "a dry-run sends nothing");
}
