//! How an alert is written for each [`WebhookFormat`]: the body, its
//! content type, and the headers the receiver reads.

use super::WebhookFormat;
use serde_json::json;

/// One alert as a request: what is posted and how it is labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub content_type: &'static str,
    /// Extra headers, already ASCII.
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The alert's first line, its title.
fn title(text: &str) -> &str {
    text.lines().find(|l| !l.trim().is_empty()).map(str::trim).unwrap_or("Lifeboat")
}

/// `text` with what an HTTP header cannot carry left out (anything but
/// printable ASCII), trimmed; "Lifeboat" when nothing is left.
fn header_text(text: &str) -> String {
    let kept: String = text.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect();
    let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    if kept.is_empty() { "Lifeboat".to_string() } else { kept }
}

/// Slack's own escaping: `&`, `<` and `>` would otherwise start its markup
/// (a mention, a link) inside an alert's words.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The request that carries `text` from `host` in `format`.
pub fn request(format: WebhookFormat, text: &str, host: &str) -> Request {
    match format {
        WebhookFormat::Json => Request {
            content_type: "application/json",
            headers: Vec::new(),
            body: json!({ "source": "lifeboat", "host": host, "title": title(text), "text": text }).to_string(),
        },
        WebhookFormat::Ntfy => {
            // Alerts ring; a recovery does not need to.
            let recovered = text.starts_with('✅');
            Request {
                content_type: "text/plain; charset=utf-8",
                headers: vec![
                    ("Title", header_text(title(text))),
                    ("Tags", if recovered { "white_check_mark" } else { "rotating_light" }.to_string()),
                    ("Priority", if recovered { "default" } else { "high" }.to_string()),
                ],
                body: text.to_string(),
            }
        }
        WebhookFormat::Slack => Request {
            content_type: "application/json",
            headers: Vec::new(),
            body: json!({ "text": slack_escape(text) }).to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALERT: &str = "🔴 Lifeboat: Backups have stopped\nno successful backup for 4 h <see> & act";

    #[test]
    fn json_carries_title_text_and_host() {
        let r = request(WebhookFormat::Json, ALERT, "db1");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["title"], "🔴 Lifeboat: Backups have stopped");
        assert_eq!(v["text"], ALERT);
        assert_eq!((v["host"].as_str(), v["source"].as_str()), (Some("db1"), Some("lifeboat")));
        assert_eq!(r.content_type, "application/json");
    }

    #[test]
    fn ntfy_puts_an_ascii_title_in_a_header_and_the_text_in_the_body() {
        let r = request(WebhookFormat::Ntfy, ALERT, "db1");
        assert_eq!(r.body, ALERT);
        assert!(r.headers.contains(&("Title", "Lifeboat: Backups have stopped".to_string())), "{:?}", r.headers);
        assert!(r.headers.contains(&("Priority", "high".to_string())));
        let ok = request(WebhookFormat::Ntfy, "✅ Lifeboat recovered: backups are succeeding again", "db1");
        assert!(ok.headers.contains(&("Priority", "default".to_string())), "{:?}", ok.headers);
        assert_eq!(header_text("🔴🔴"), "Lifeboat");
    }

    #[test]
    fn slack_escapes_its_markup() {
        let r = request(WebhookFormat::Slack, ALERT, "db1");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert!(v["text"].as_str().unwrap().ends_with("&lt;see&gt; &amp; act"), "{}", v["text"]);
        assert_eq!(v.as_object().unwrap().len(), 1);
    }
}
