//! `[[destinations.webhook]]` against a real HTTP server on loopback: each
//! format's body and headers, retry through 429 and 5xx, a refusal not
//! retried, and the URL in no error.

use lifeboat_core::destination::Notifier;
use lifeboat_engine::config::Config;
use lifeboat_messaging::WebhookDestination;
use lifeboat_testkit::HttpRecorder;

const ALERT: &str = "❌ Lifeboat: the scheduled backup of 2026-12-04 10:00 UTC failed.\nWhy: <disk> & more";

/// One webhook named "ops" posting to `url` in `format`; three attempts
/// without waiting.
fn webhook(dir: &std::path::Path, url: &str, format: &str) -> WebhookDestination {
    let file = dir.join("ops.url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let toml = format!(
        "[retry]\nattempts = 3\ninitial_delay_secs = 0\nmax_delay_secs = 1\n\
         [[destinations.webhook]]\nname = \"ops\"\nurl_file = {file:?}\nformat = {format:?}\n"
    );
    let cfg = Config::from_toml(&toml).unwrap();
    let mut all = WebhookDestination::from_config(&cfg.destinations.webhook, &cfg.surroundings());
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn header<'a>(r: &'a lifeboat_testkit::http_recorder::Received, name: &str) -> Option<&'a str> {
    r.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn json_posts_title_text_and_host() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpRecorder::start();
    let hook = webhook(dir.path(), &format!("{}/hooks/secret-123", server.url()), "json");
    hook.alert(ALERT).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].method.as_str(), got[0].path.as_str()), ("POST", "/hooks/secret-123"));
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["text"], ALERT);
    assert_eq!(v["title"], "❌ Lifeboat: the scheduled backup of 2026-12-04 10:00 UTC failed.");
    assert_eq!(v["source"], "lifeboat");
    assert!(v["host"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
}

#[tokio::test]
async fn ntfy_posts_the_text_with_its_title_and_priority_in_headers() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpRecorder::start();
    let hook = webhook(dir.path(), &format!("{}/lifeboat-alerts", server.url()), "ntfy");
    hook.alert(ALERT).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, ALERT);
    assert_eq!(got[0].content_type.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(header(&got[0], "title"), Some("Lifeboat: the scheduled backup of 2026-12-04 10:00 UTC failed."));
    assert_eq!(header(&got[0], "priority"), Some("high"));
}

#[tokio::test]
async fn slack_posts_only_text_with_its_markup_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpRecorder::start();
    let hook = webhook(dir.path(), &format!("{}/services/T0/B0/secret", server.url()), "slack");
    hook.alert(ALERT).await.unwrap();
    let got = server.received();
    let v: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    let escaped = ALERT.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    assert_eq!(v, serde_json::json!({ "text": escaped }));
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_it_takes_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpRecorder::start_answering(&[429, 503]);
    let hook = webhook(dir.path(), &format!("{}/hooks/secret-123", server.url()), "json");
    hook.alert(ALERT).await.unwrap();
    assert_eq!(server.received().len(), 3, "a 429, a 503, then the one that took it");
    assert!(server.bodies().iter().all(|b| b.contains("Lifeboat")));
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_an_unreachable_endpoint_names_its_host_not_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpRecorder::start_answering(&[404]);
    let hook = webhook(dir.path(), &format!("{}/hooks/secret-123", server.url()), "json");
    let e = hook.alert(ALERT).await.unwrap_err();
    assert!(e.permanent, "{e:?}");
    assert_eq!(server.received().len(), 1);
    assert!(e.message.contains("webhook:ops") && e.message.contains("404"), "{e}");
    assert!(!e.message.contains("secret-123"), "{e}");

    let server = HttpRecorder::start_answering(&[500, 500, 500]);
    let hook = webhook(dir.path(), &format!("{}/hooks/secret-123", server.url()), "json");
    let e = hook.alert(ALERT).await.unwrap_err();
    assert!(!e.permanent && e.message.contains("500"), "{e:?}");
    assert_eq!(server.received().len(), 3, "retry.attempts = 3");

    let hook = webhook(dir.path(), "http://127.0.0.1:1/hooks/secret-123", "json");
    let e = hook.alert(ALERT).await.unwrap_err();
    assert!(!e.permanent && e.message.contains("cannot reach 127.0.0.1"), "{e}");
    assert!(!e.message.contains("secret-123"), "{e}");
    let shown = format!("{hook:?}");
    assert!(shown.contains("[redacted]") && !shown.contains("secret-123"), "{shown}");
}

#[test]
fn a_webhook_needs_a_known_format_a_url_file_and_a_name_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("u");
    std::fs::write(&file, "https://ntfy.sh/alerts\n").unwrap();
    let entry = |name: &str, url_file: &str, format: &str| {
        format!("[[destinations.webhook]]\nname = {name:?}\nurl_file = {url_file:?}\nformat = {format:?}\n")
    };
    let f = file.display().to_string();
    let err = |toml: &str| Config::from_toml(toml).unwrap_err().to_string();
    let e = err(&entry("ops", &f, "xml"));
    assert!(
        e.contains("destinations.webhook") && e.contains("\"xml\" is not one of \"json\", \"ntfy\", \"slack\""),
        "{e}"
    );
    let e = err(&entry("ops", "", "json"));
    assert!(e.contains("url_file is empty"), "{e}");
    let e = err(&format!("{}{}", entry("ops", &f, "json"), entry("ops", &f, "slack")));
    assert!(e.contains("used twice"), "{e}");
    std::fs::write(&file, "not a url\n").unwrap();
    let e = err(&entry("ops", &f, "json"));
    assert!(e.contains("destinations.webhook.url_file") && e.contains("does not hold an http(s) URL"), "{e}");
    assert!(!e.contains("not a url"), "the file's text is a secret: {e}");
    let e = err(&format!("{}extra = 1\n", entry("ops", &f, "json")));
    assert!(e.contains("extra"), "{e}");
}
