//! `[[destinations.webhook]]` against a real HTTP server on loopback: each
//! format's body and headers, retry through 429 and 5xx, a refusal not
//! retried, and the URL in no error.

use lifeboat_core::config::RetryConfig;
use lifeboat_core::destination::{Notifier, Section, Surroundings};
use lifeboat_messaging::WebhookDestination;
use lifeboat_messaging::webhook::WebhookConfig;
use lifeboat_testkit::HttpRecorder;

const ALERT: &str = "❌ Lifeboat: the scheduled backup of 2026-12-04 10:00 UTC failed.\nWhy: <disk> & more";

/// One webhook named "ops" posting to `url` in `format`, its URL read from
/// its file as the configuration's load reads it; three attempts without
/// waiting.
fn webhook(dir: &std::path::Path, url: &str, format: &str) -> WebhookDestination {
    let file = dir.join("ops.url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let mut section = WebhookConfig { name: "ops".into(), url_file: file, format: format.parse().unwrap(), url: None };
    section.resolve_secrets(&mut |_| panic!("the URL file is readable")).unwrap();
    let out = dir.join("out");
    let around = Surroundings {
        state_path: out.join(".lifeboat/state.db"),
        output_dir: out,
        keys: Default::default(),
        retry: RetryConfig { attempts: 3, initial_delay_secs: 0, max_delay_secs: 1 },
        quiet_routine: false,
        elsewhere: Vec::new(),
    };
    let mut all = WebhookDestination::from_config(&[section], &around);
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
