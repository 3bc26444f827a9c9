//! Notifications: chat webhooks (Slack, Microsoft Teams, a generic JSON receiver) and
//! status-page incident updates.
//!
//! [`payload`] builds the exact JSON that [`send`] posts; the shapes are a contract (tests assert
//! them byte for byte) and are documented on each builder. A webhook URL is a credential: it
//! travels as a [`Secret`] and no error names it — errors say "the Slack webhook" instead, and
//! any text that comes back from the network is scrubbed of the URL before it is shown.
//!
//! [`send`] tries [`RetryPolicy::DEFAULT`]: up to 3 retries after network errors, `429 Too Many
//! Requests` (waiting what `Retry-After` asks, in seconds) and `5xx`, with exponential backoff.
//! Other statuses (a `404` for a deleted webhook, a `400` for a rejected payload) fail at once.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::context::control::Control;
use crate::context::secrets::Secret;
use crate::error::{Error, Result};
use crate::host::health::{client, network_detail, parse_http_url, sleep_checked, within};

/// Which kind of webhook receives a notification; decides the payload shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// A Slack incoming webhook (`https://hooks.slack.com/services/...`).
    Slack,
    /// A Microsoft Teams incoming webhook taking a legacy `MessageCard`.
    Teams,
    /// Any receiver taking a plain JSON document (see [`payload`]).
    Generic,
}

impl Flavour {
    /// Parses `slack`, `teams` or `generic` (any case).
    pub fn parse(name: &str) -> Result<Flavour> {
        match name.trim().to_ascii_lowercase().as_str() {
            "slack" => Ok(Flavour::Slack),
            "teams" => Ok(Flavour::Teams),
            "generic" => Ok(Flavour::Generic),
            _ => Err(Error::usage(format!("unknown webhook kind \"{name}\""))
                .with_hint("use \"slack\", \"teams\" or \"generic\"")),
        }
    }

    /// Guesses the flavour from a webhook URL: `hooks.slack.com` is Slack, `*.office.com` and
    /// `*.office365.com` hosts are Teams, anything else is generic.
    pub fn detect(url: &Secret) -> Flavour {
        let host = parse_http_url(url.expose())
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        if host == "hooks.slack.com" {
            Flavour::Slack
        } else if host.ends_with(".office.com") || host.ends_with(".office365.com") {
            Flavour::Teams
        } else {
            Flavour::Generic
        }
    }

    /// The name used in messages: `Slack`, `Teams`, `generic`.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Slack => "Slack",
            Flavour::Teams => "Teams",
            Flavour::Generic => "generic",
        }
    }
}

/// How serious a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// For the record: a backup finished, a drill started.
    Info,
    /// Needs attention soon: a backup is getting old, a retry was needed.
    Warning,
    /// Needs someone now: a backup or restore failed, a target was missed.
    Critical,
}

impl Severity {
    /// Parses `info`, `warning` or `critical` (any case).
    pub fn parse(name: &str) -> Result<Severity> {
        match name.trim().to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            _ => Err(Error::usage(format!("unknown severity \"{name}\""))
                .with_hint("use \"info\", \"warning\" or \"critical\"")),
        }
    }

    /// `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The Slack emoji shown before the title: `:information_source:`, `:warning:`,
    /// `:rotating_light:`.
    pub fn emoji(self) -> &'static str {
        match self {
            Severity::Info => ":information_source:",
            Severity::Warning => ":warning:",
            Severity::Critical => ":rotating_light:",
        }
    }

    /// The Teams card colour: `0078D7` (blue), `FF8C00` (orange), `D13438` (red).
    pub fn colour(self) -> &'static str {
        match self {
            Severity::Info => "0078D7",
            Severity::Warning => "FF8C00",
            Severity::Critical => "D13438",
        }
    }
}

/// A message for people: a title, a text, a severity and labelled facts (runbook, failed step,
/// run id, contacts, ...), kept in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// One line, e.g. `Restore failed: Verify checksums`.
    pub title: String,
    /// The body text.
    pub message: String,
    /// How serious it is.
    pub severity: Severity,
    /// Labelled facts, shown in this order.
    pub fields: Vec<(String, String)>,
}

impl Notification {
    /// A notification without fields.
    pub fn new(title: impl Into<String>, message: impl Into<String>, severity: Severity) -> Self {
        Notification {
            title: title.into(),
            message: message.into(),
            severity,
            fields: Vec::new(),
        }
    }

    /// Adds a labelled fact.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((key.into(), value.into()));
        self
    }
}

/// Slack's limit for a header block's text.
const SLACK_HEADER_MAX: usize = 150;
/// Slack's limit for a section block's text.
const SLACK_SECTION_MAX: usize = 3000;

/// `text` cut to `max` characters, ending in `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut s: String = text.chars().take(max - 1).collect();
        s.push('…');
        s
    }
}

/// Escapes the three characters Slack's mrkdwn reserves: `&`, `<`, `>`.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The JSON document [`send`] posts for `flavour`, stamped with the current time where the shape
/// has one (generic only).
///
/// **Slack** (incoming webhook, Block Kit):
///
/// ```json
/// {"text": "<emoji> <title>: <message>",
///  "blocks": [
///    {"type": "header", "text": {"type": "plain_text", "text": "<emoji> <title>", "emoji": true}},
///    {"type": "section", "text": {"type": "mrkdwn", "text": "<message>"}},
///    {"type": "section", "text": {"type": "mrkdwn", "text": "*<key>*: <value>\n*<key>*: <value>"}}
///  ]}
/// ```
///
/// The emoji is [`Severity::emoji`]; `&`, `<`, `>` in the message and the fields are escaped as
/// Slack asks; the header is cut to 150 characters and sections to 3000. The fields section is
/// left out when there are no fields, the message section when the message is empty.
///
/// **Teams** (`MessageCard`):
///
/// ```json
/// {"@type": "MessageCard", "@context": "https://schema.org/extensions",
///  "themeColor": "<Severity::colour>", "summary": "<title>", "title": "<title>",
///  "text": "<message>",
///  "sections": [{"facts": [{"name": "Severity", "value": "critical"},
///                          {"name": "<key>", "value": "<value>"}]}]}
/// ```
///
/// **Generic**:
///
/// ```json
/// {"title": "<title>", "message": "<message>", "severity": "info|warning|critical",
///  "fields": {"<key>": "<value>"}, "sent_at": "2025-11-13T02:00:00Z"}
/// ```
///
/// `sent_at` is RFC 3339 UTC to the second; a repeated field key keeps its last value. Objects
/// are serialised with their keys in alphabetical order.
pub fn payload(flavour: Flavour, n: &Notification) -> Value {
    payload_at(flavour, n, Utc::now())
}

/// [`payload`] with the time of sending given (for reproducible documents).
pub fn payload_at(flavour: Flavour, n: &Notification, now: DateTime<Utc>) -> Value {
    match flavour {
        Flavour::Slack => {
            let emoji = n.severity.emoji();
            let mut blocks = vec![json!({
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": cut(&format!("{emoji} {}", n.title), SLACK_HEADER_MAX),
                    "emoji": true,
                },
            })];
            if !n.message.is_empty() {
                blocks.push(json!({
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": cut(&slack_escape(&n.message), SLACK_SECTION_MAX)},
                }));
            }
            if !n.fields.is_empty() {
                let lines: Vec<String> = n
                    .fields
                    .iter()
                    .map(|(k, v)| format!("*{}*: {}", slack_escape(k), slack_escape(v)))
                    .collect();
                blocks.push(json!({
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": cut(&lines.join("\n"), SLACK_SECTION_MAX)},
                }));
            }
            let text = if n.message.is_empty() {
                format!("{emoji} {}", slack_escape(&n.title))
            } else {
                format!(
                    "{emoji} {}: {}",
                    slack_escape(&n.title),
                    slack_escape(&n.message)
                )
            };
            json!({ "text": text, "blocks": blocks })
        }
        Flavour::Teams => {
            let mut facts = vec![json!({"name": "Severity", "value": n.severity.as_str()})];
            facts.extend(n.fields.iter().map(|(k, v)| json!({"name": k, "value": v})));
            json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "themeColor": n.severity.colour(),
                "summary": n.title,
                "title": n.title,
                "text": n.message,
                "sections": [{"facts": facts}],
            })
        }
        Flavour::Generic => {
            let fields: BTreeMap<&str, &str> = n
                .fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            json!({
                "title": n.title,
                "message": n.message,
                "severity": n.severity.as_str(),
                "fields": fields,
                "sent_at": timestamp(now),
            })
        }
    }
}

fn timestamp(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What a status-page incident update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    /// A new incident.
    Open,
    /// News on an open incident.
    Update,
    /// The incident is over.
    Resolve,
}

impl IncidentAction {
    /// Parses `open`, `update` or `resolve` (any case).
    pub fn parse(name: &str) -> Result<IncidentAction> {
        match name.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(IncidentAction::Open),
            "update" => Ok(IncidentAction::Update),
            "resolve" => Ok(IncidentAction::Resolve),
            _ => Err(Error::usage(format!("unknown incident action \"{name}\""))
                .with_hint("use \"open\", \"update\" or \"resolve\"")),
        }
    }

    /// `open`, `update` or `resolve`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentAction::Open => "open",
            IncidentAction::Update => "update",
            IncidentAction::Resolve => "resolve",
        }
    }
}

/// The JSON for a status-page webhook (post it with [`send_json`]):
///
/// ```json
/// {"action": "open|update|resolve",
///  "incident": {"id": "<incident_id>", "title": "<title>", "message": "<message>",
///               "severity": "info|warning|critical", "updated_at": "2025-11-13T02:00:00Z"}}
/// ```
pub fn status_page_payload(
    action: IncidentAction,
    incident_id: &str,
    title: &str,
    message: &str,
    severity: Severity,
) -> Value {
    status_page_payload_at(action, incident_id, title, message, severity, Utc::now())
}

/// [`status_page_payload`] with the time given.
pub fn status_page_payload_at(
    action: IncidentAction,
    incident_id: &str,
    title: &str,
    message: &str,
    severity: Severity,
    now: DateTime<Utc>,
) -> Value {
    json!({
        "action": action.as_str(),
        "incident": {
            "id": incident_id,
            "title": title,
            "message": message,
            "severity": severity.as_str(),
            "updated_at": timestamp(now),
        },
    })
}

/// When and how often [`send`] tries again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Extra attempts after a retryable failure.
    pub retries: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Longest wait between attempts, `Retry-After` included.
    pub max_wait: Duration,
    /// Time allowed for one attempt.
    pub timeout: Duration,
}

impl RetryPolicy {
    /// 3 retries, 1 s / 2 s / 4 s apart (or what `Retry-After` asks, up to 60 s), 10 s per
    /// attempt.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        retries: 3,
        backoff: Duration::from_secs(1),
        max_wait: Duration::from_secs(60),
        timeout: Duration::from_secs(10),
    };
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

/// `text` with the secret URL (and its path, which is the secret part) masked.
fn scrub(text: &str, url: &Secret) -> String {
    let mut out = text.replace(url.expose(), "***");
    if let Some(parsed) = parse_http_url(url.expose()) {
        let path = parsed.path();
        if path.len() > 1 {
            out = out.replace(path, "/***");
        }
        if let Some(query) = parsed.query().filter(|q| !q.is_empty()) {
            out = out.replace(query, "***");
        }
    }
    out
}

/// Seconds from a `Retry-After` header (the HTTP-date form is not used by webhook services).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// One attempt's outcome.
enum Outcome {
    Sent,
    /// Worth another try, after the given wait if the receiver asked for one.
    Retry(String, Option<Duration>),
    /// Trying again will not help.
    Fail(String, u16),
}

/// Posts `n` as `flavour`'s [`payload`] to the webhook at `url`, with [`RetryPolicy::DEFAULT`].
///
/// Errors name "the `<flavour>` webhook" and the secret's variable name, never the URL.
pub fn send(url: &Secret, flavour: Flavour, n: &Notification, control: &Control) -> Result<()> {
    send_json(
        url,
        flavour.name(),
        &payload(flavour, n),
        &RetryPolicy::DEFAULT,
        control,
    )
}

/// Posts any JSON `body` to the webhook at `url` with `policy`; `kind` names the webhook in
/// messages ("the `<kind>` webhook"), e.g. `Slack` or `status page`.
pub fn send_json(
    url: &Secret,
    kind: &str,
    body: &Value,
    policy: &RetryPolicy,
    control: &Control,
) -> Result<()> {
    let what = format!("the {kind} webhook");
    let hint_url = format!("check the webhook URL in {}", url.name());
    let Some(parsed) = parse_http_url(url.expose()) else {
        return Err(
            Error::usage(format!("{what}: the URL is not an http:// or https:// URL"))
                .with_hint(hint_url),
        );
    };
    let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
    let client = client()?;
    let mut attempt = 0;
    loop {
        control.check()?;
        attempt += 1;
        let request = client
            .post(parsed.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes.clone());
        let exchange = async {
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    let detail = match std::error::Error::source(&e) {
                        Some(source) => network_detail(source),
                        None => "the request failed".into(),
                    };
                    return Outcome::Retry(detail, None);
                }
            };
            let status = response.status();
            if status.is_success() {
                return Outcome::Sent;
            }
            let wait = retry_after(&response);
            let reason = status.canonical_reason().unwrap_or("");
            let text = response.text().await.unwrap_or_default();
            let text = cut(text.trim(), 200);
            let mut detail = format!("HTTP {}", status.as_u16());
            if !reason.is_empty() {
                detail = format!("{detail} {reason}");
            }
            if !text.is_empty() {
                detail = format!("{detail}: {text}");
            }
            if status.as_u16() == 429 || status.is_server_error() {
                Outcome::Retry(detail, wait)
            } else {
                Outcome::Fail(detail, status.as_u16())
            }
        };
        let outcome = within(policy.timeout, exchange, control)?.unwrap_or_else(|| {
            Outcome::Retry(
                format!(
                    "no answer within {}",
                    humantime::format_duration(policy.timeout)
                ),
                None,
            )
        });
        match outcome {
            Outcome::Sent => return Ok(()),
            Outcome::Fail(detail, status) => {
                let hint = match status {
                    401 | 403 | 404 | 410 => {
                        format!("{hint_url}: the webhook may have been removed or its URL rotated")
                    }
                    _ => format!("the receiver rejected the message; {hint_url}"),
                };
                return Err(Error::failed(format!(
                    "could not notify {what}: {}",
                    scrub(&detail, url)
                ))
                .with_hint(hint));
            }
            Outcome::Retry(detail, asked) => {
                let detail = scrub(&detail, url);
                if attempt > policy.retries {
                    let tries = if attempt == 1 {
                        "1 attempt".to_string()
                    } else {
                        format!("{attempt} attempts")
                    };
                    return Err(Error::failed(format!(
                        "could not notify {what} after {tries}: {detail}"
                    ))
                    .with_hint(format!(
                        "check that the service is reachable from this host; {hint_url}"
                    )));
                }
                let backoff = policy.backoff.saturating_mul(1u32 << (attempt - 1).min(16));
                let wait = asked.unwrap_or(backoff).min(policy.max_wait);
                control.note(&format!(
                    "{what}: {detail}; trying again in {}",
                    humantime::format_duration(wait)
                ));
                sleep_checked(wait, control)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 11, 13, 2, 0, 0).unwrap()
    }

    fn sample() -> Notification {
        Notification::new(
            "Restore failed",
            "Step <Verify> failed & stopped",
            Severity::Critical,
        )
        .field("runbook", "restore-full")
        .field("run id", "r-1")
    }

    #[test]
    fn notify_slack_payload_shape() {
        let text = serde_json::to_string(&payload_at(Flavour::Slack, &sample(), at())).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"blocks":[{"text":{"emoji":true,"text":":rotating_light: Restore failed","type":"plain_text"},"type":"header"},"#,
                r#"{"text":{"text":"Step &lt;Verify&gt; failed &amp; stopped","type":"mrkdwn"},"type":"section"},"#,
                r#"{"text":{"text":"*runbook*: restore-full\n*run id*: r-1","type":"mrkdwn"},"type":"section"}],"#,
                r#""text":":rotating_light: Restore failed: Step &lt;Verify&gt; failed &amp; stopped"}"#
            )
        );
        let bare = payload_at(
            Flavour::Slack,
            &Notification::new("Backup done", "", Severity::Info),
            at(),
        );
        assert_eq!(bare["blocks"].as_array().unwrap().len(), 1);
        assert_eq!(bare["text"], ":information_source: Backup done");
    }

    #[test]
    fn notify_teams_payload_shape() {
        let text = serde_json::to_string(&payload_at(Flavour::Teams, &sample(), at())).unwrap();
        assert_eq!(
            text,
            concat!(
                r#"{"@context":"https://schema.org/extensions","@type":"MessageCard","#,
                r#""sections":[{"facts":[{"name":"Severity","value":"critical"},{"name":"runbook","value":"restore-full"},{"name":"run id","value":"r-1"}]}],"#,
                r#""summary":"Restore failed","text":"Step <Verify> failed & stopped","themeColor":"D13438","title":"Restore failed"}"#
            )
        );
    }

    #[test]
    fn notify_generic_payload_shape() {
        let text = serde_json::to_string(&payload_at(Flavour::Generic, &sample(), at())).unwrap();
        assert_eq!(
            text,
            r#"{"fields":{"run id":"r-1","runbook":"restore-full"},"message":"Step <Verify> failed & stopped","sent_at":"2025-11-13T02:00:00Z","severity":"critical","title":"Restore failed"}"#
        );
    }

    #[test]
    fn notify_status_page_payload_shape() {
        let text = serde_json::to_string(&status_page_payload_at(
            IncidentAction::Resolve,
            "inc-7",
            "Database restored",
            "All services healthy",
            Severity::Info,
            at(),
        ))
        .unwrap();
        assert_eq!(
            text,
            r#"{"action":"resolve","incident":{"id":"inc-7","message":"All services healthy","severity":"info","title":"Database restored","updated_at":"2025-11-13T02:00:00Z"}}"#
        );
    }

    #[test]
    fn notify_parses_names() {
        assert_eq!(Severity::parse("Critical").unwrap(), Severity::Critical);
        assert_eq!(Severity::parse("info").unwrap(), Severity::Info);
        assert_eq!(Severity::parse(" warning ").unwrap(), Severity::Warning);
        let err = Severity::parse("urgent").unwrap_err();
        assert!(err.hint().unwrap().contains("critical"));
        assert_eq!(Flavour::parse("TEAMS").unwrap(), Flavour::Teams);
        assert!(Flavour::parse("discord").is_err());
        assert_eq!(IncidentAction::parse("open").unwrap(), IncidentAction::Open);
    }

    #[test]
    fn notify_detects_flavour_from_url() {
        let s = |u: &str| Flavour::detect(&Secret::new("W", u));
        assert_eq!(s("https://hooks.slack.com/services/T/B/x"), Flavour::Slack);
        assert_eq!(
            s("https://acme.webhook.office.com/webhookb2/x"),
            Flavour::Teams
        );
        assert_eq!(s("https://status.example.com/hook"), Flavour::Generic);
        assert_eq!(s("not a url"), Flavour::Generic);
    }

    #[test]
    fn notify_scrub_masks_url_and_path() {
        let url = Secret::new(
            "W",
            "https://hooks.slack.com/services/T0/B0/sekrit?token=abc",
        );
        let text = "POST https://hooks.slack.com/services/T0/B0/sekrit?token=abc failed; path /services/T0/B0/sekrit token=abc";
        let out = scrub(text, &url);
        assert!(!out.contains("sekrit"), "{out}");
        assert!(!out.contains("token=abc"), "{out}");
    }

    #[test]
    fn notify_bad_url_is_usage_error_without_url() {
        let url = Secret::new("SLACK_URL", "hooks.slack.com/sekrit");
        let n = Notification::new("t", "m", Severity::Info);
        let err = send(&url, Flavour::Slack, &n, &Control::detached()).unwrap_err();
        assert_eq!(err.kind(), crate::error::ErrorKind::Usage);
        assert!(!err.to_string().contains("sekrit"), "{err}");
        assert!(err.to_string().contains("the Slack webhook"), "{err}");
        assert!(err.to_string().contains("SLACK_URL"), "{err}");
    }

    #[test]
    fn notify_long_titles_are_cut_for_slack() {
        let n = Notification::new("x".repeat(400), "m", Severity::Warning);
        let p = payload_at(Flavour::Slack, &n, at());
        let header = p["blocks"][0]["text"]["text"].as_str().unwrap();
        assert_eq!(header.chars().count(), SLACK_HEADER_MAX);
        assert!(header.starts_with(":warning: x"));
    }
}
