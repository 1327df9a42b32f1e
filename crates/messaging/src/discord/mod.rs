//! A Discord channel through its webhook: each archive as attachments of at
//! most `max_upload_mb` (a larger one in numbered parts, the same byte split
//! as on disk, so `cat` or 7-Zip joins them), alerts as plain messages.
//!
//! Every post asks Discord to answer with the message it created
//! (`?wait=true`), and an attachment counts as sent only when that message
//! lists it at its full size. A 429 waits exactly Discord's `retry_after`;
//! a response that used up the rate-limit bucket makes the next post wait
//! for `X-RateLimit-Reset-After`. The webhook URL is a secret (it is all it
//! takes to post): it never appears in logs, errors or `Debug`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::Retryable;
use lifeboat_core::catalog::{StoredArchive, part_name};
use lifeboat_core::config::{MB, SecretUrl};
use lifeboat_core::destination::{
    AlertError, Answer, BoxFuture, CopyFailure, CopySink, DestinationId, DestinationKind, Handover, Notifier,
    NotifierKind, Opened, Probe, ProbeContext, ProbeError, SetupFailed, Surroundings,
};
use lifeboat_core::state::FailureCode;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

pub mod bot_section;
pub mod dm;
mod section;
pub use bot_section::DiscordBotConfig;
pub use dm::DiscordOwnerDm;
pub use section::DiscordConfig;

/// Discord's limit on a message's text.
const CONTENT_LIMIT: usize = 2000;
/// `SUPPRESS_NOTIFICATIONS`: the message arrives without a ping.
const SILENT: u64 = 1 << 12;
/// A rate-limit wait longer than this is not sat out inside a cycle.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// What to fix when the webhook does not answer.
const FIX: &str = "put the channel's current webhook URL in destinations.discord.webhook_url_file; archives wait in the outbox meanwhile";

/// Opens `[destinations.discord]` when it is configured (archives, alerts
/// and its probe), and adds the probe of the Discord bot's token
/// (`[discord]`), which diagnose checks right after it.
pub fn open_configured(section: &DiscordConfig, bot: &DiscordBotConfig, around: &Surroundings, out: &mut Opened) {
    if section.enabled() {
        match DiscordDestination::from_config(section, around) {
            Some(d) => out.add_in_every_role(around.clone(), Arc::new(d)),
            None => out.probes.push(Arc::new(SetupFailed {
                subject: DestinationId::DISCORD.to_string(),
                error: ProbeError::new(FailureCode::Transient, "cannot set up HTTP", FIX),
            })),
        }
    }
    if let Some(bot) = dm::BotProbe::from_config(bot) {
        out.probes.push(Arc::new(bot));
    }
}

/// The configured webhook.
pub struct DiscordDestination {
    settings: DiscordConfig,
    around: Surroundings,
    /// `monitoring.quiet_routine`: routine archives arrive without a ping.
    quiet: bool,
    /// The webhook URL (a secret: never logged).
    webhook: SecretUrl,
    http: reqwest::Client,
    /// Set when the last response used up the rate-limit bucket.
    not_before: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for DiscordDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordDestination").field("webhook_url", &"[redacted]").finish()
    }
}

/// One failed post.
#[derive(Debug)]
struct PostError {
    code: FailureCode,
    message: String,
    transient: bool,
    retry_after: Option<Duration>,
}

impl PostError {
    fn into_failure(self, sent_parts: u32) -> CopyFailure {
        CopyFailure { code: self.code, message: self.message, permanent: !self.transient, sent_parts }
    }
}

impl DiscordDestination {
    /// None when no webhook is configured.
    pub fn from_config(section: &DiscordConfig, around: &Surroundings) -> Option<DiscordDestination> {
        let webhook = section.webhook_url.clone()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(|e| tracing::error!("discord: cannot set up HTTP: {}", e.without_url()))
            .ok()?;
        Some(DiscordDestination {
            settings: section.clone(),
            around: around.clone(),
            quiet: around.quiet_routine,
            webhook,
            http,
            not_before: Mutex::new(None),
        })
    }

    fn settings(&self) -> &DiscordConfig {
        &self.settings
    }

    /// The webhook URL asking for the created message in the answer.
    fn url(&self) -> url::Url {
        let mut url = self.webhook.expose().clone();
        url.query_pairs_mut().append_pair("wait", "true");
        url
    }

    /// Checks the webhook exists, without posting: Discord answers a GET
    /// with the webhook's own details.
    async fn ask(&self) -> Result<String, ProbeError> {
        let resp = self
            .http
            .get(self.webhook.expose().clone())
            .send()
            .await
            .map_err(|e| ProbeError::new(FailureCode::Transient, network_words(&e), FIX))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        if status.is_success() {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            let name = v.get("name").and_then(Value::as_str).unwrap_or("?");
            return Ok(format!("webhook {name:?} answers"));
        }
        let refused = classify(status, &headers, &body);
        Err(ProbeError::new(refused.code, refused.message, FIX))
    }

    /// Posts one message (text, and a file when given), with retry.
    async fn post(
        &self,
        content: &str,
        silent: bool,
        file: Option<(&str, &[u8])>,
        cancel: &CancellationToken,
    ) -> Result<(), PostError> {
        let url = self.url();
        let mut payload = json!({
            "content": crate::fit(content, CONTENT_LIMIT),
            // A caption is data: never let it ping @everyone.
            "allowed_mentions": { "parse": [] },
        });
        if silent {
            payload["flags"] = json!(SILENT);
        }
        if let Some((name, _)) = file {
            payload["attachments"] = json!([{ "id": 0, "filename": name }]);
        }
        let attempt = || async {
            self.wait_for_bucket().await;
            let request = self.http.post(url.clone());
            let request = match file {
                Some((name, bytes)) => {
                    let part = reqwest::multipart::Part::bytes(bytes.to_vec())
                        .file_name(name.to_string())
                        .mime_str("application/octet-stream")
                        .map_err(|e| post_error(FailureCode::Refused, e.without_url().to_string(), false))?;
                    let form = reqwest::multipart::Form::new()
                        .text("payload_json", payload.to_string())
                        .part("files[0]", part);
                    request.multipart(form)
                }
                None => request.json(&payload),
            };
            let resp = request.send().await.map_err(|e| post_error(FailureCode::Transient, network_words(&e), true))?;
            let status = resp.status();
            let headers = resp.headers().clone();
            self.note_bucket(&headers);
            let body = resp.text().await.map_err(|e| post_error(FailureCode::Transient, network_words(&e), true))?;
            if !status.is_success() {
                return Err(classify(status, &headers, &body));
            }
            confirm(&body, file.map(|(name, bytes)| (name, bytes.len() as u64)))
        };
        let retried = attempt
            .retry(self.around.retry.backoff())
            .when(|e: &PostError| e.transient && e.retry_after.is_none_or(|w| w <= LONGEST_WAIT))
            .adjust(|e: &PostError, d| d.map(|d| e.retry_after.unwrap_or(d)))
            .notify(|e: &PostError, d: Duration| {
                tracing::warn!(wait_ms = d.as_millis() as u64, "Discord: {}; retrying", e.message);
            });
        tokio::select! {
            r = retried => r,
            _ = cancel.cancelled() => Err(post_error(FailureCode::Transient, "stopped before Discord confirmed it".into(), true)),
        }
    }

    async fn wait_for_bucket(&self) {
        let until = *self.not_before.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(until) = until {
            let wait = until.saturating_duration_since(Instant::now()).min(LONGEST_WAIT);
            if !wait.is_zero() {
                tracing::debug!(wait_ms = wait.as_millis() as u64, "Discord: waiting for the rate limit to reset");
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Remembers when the bucket resets if this response used it up.
    fn note_bucket(&self, headers: &HeaderMap) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let until = match (header("x-ratelimit-remaining"), header("x-ratelimit-reset-after")) {
            (Some("0"), Some(after)) => after
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| Instant::now() + Duration::from_secs_f64(s.min(LONGEST_WAIT.as_secs_f64()))),
            _ => None,
        };
        *self.not_before.lock().unwrap_or_else(|e| e.into_inner()) = until;
    }

    /// Posts `archive` in parts of at most `max_upload_mb`, from part
    /// `sent_parts + 1` on.
    async fn send_archive(
        &self,
        archive: &StoredArchive,
        sent_parts: u32,
        cancel: &CancellationToken,
    ) -> Result<u64, CopyFailure> {
        let limit = self.settings().max_upload_mb * MB;
        let parts = archive.size.div_ceil(limit).max(1);
        if parts > 999 {
            return Err(CopyFailure::permanent(
                FailureCode::FileTooLarge,
                format!(
                    "{} would need {parts} parts of {} MB; raise destinations.discord.max_upload_mb",
                    archive.name,
                    limit / MB
                ),
            ));
        }
        let parts = parts as u32;
        let silent = self.quiet;
        let captions = crate::Captions::new(&self.around, archive);
        for part in sent_parts + 1..=parts {
            let offset = u64::from(part - 1) * limit;
            let bytes = crate::read_range(archive, offset, limit.min(archive.size - offset)).await?;
            let name = if parts == 1 { archive.name.clone() } else { part_name(&archive.name, part) };
            let text = captions.part(part, parts);
            self.post(&text, silent, Some((&name, &bytes)), cancel).await.map_err(|e| e.into_failure(part - 1))?;
        }
        Ok(archive.size)
    }
}

fn post_error(code: FailureCode, message: String, transient: bool) -> PostError {
    PostError { code, message, transient, retry_after: None }
}

/// A network error in words, never with the URL (it holds the token).
fn network_words(e: &reqwest::Error) -> String {
    let mut words =
        if e.is_timeout() { "Discord did not answer in time".to_string() } else { "cannot reach Discord".to_string() };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        words = format!("{words}: {s}");
        source = s.source();
    }
    words
}

/// What a refusal means, from its status, headers and Discord's JSON body
/// (`{"message": …, "code": …}`, with `retry_after` on a 429).
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> PostError {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let said = v.get("message").and_then(Value::as_str).unwrap_or("").to_string();
    let code = v.get("code").and_then(Value::as_u64).unwrap_or(0);
    let said_words = if said.is_empty() { status.to_string() } else { format!("{said} (code {code})") };
    match status.as_u16() {
        429 => {
            let retry_after = v
                .get("retry_after")
                .and_then(Value::as_f64)
                .or_else(|| headers.get("retry-after").and_then(|h| h.to_str().ok()).and_then(|s| s.trim().parse().ok()))
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            let global = if v.get("global").and_then(Value::as_bool) == Some(true) { " (global)" } else { "" };
            let wait = retry_after.map(|d| format!(", retry after {:.1} s", d.as_secs_f64())).unwrap_or_default();
            PostError {
                code: FailureCode::Transient,
                message: format!("rate limited by Discord{global}{wait}"),
                transient: true,
                retry_after,
            }
        }
        413 => post_error(
            FailureCode::FileTooLarge,
            "Discord refused the attachment as too large; lower destinations.discord.max_upload_mb (10 unless the server is boosted)".into(),
            false,
        ),
        _ if code == 40005 => post_error(
            FailureCode::FileTooLarge,
            format!("Discord: {said_words}; lower destinations.discord.max_upload_mb (10 unless the server is boosted)"),
            false,
        ),
        401 | 403 | 404 => post_error(
            FailureCode::BadCredentials,
            format!("Discord refused the webhook: {said_words}; it was deleted or the URL is wrong: put the channel's current webhook URL in webhook_url_file"),
            false,
        ),
        s if s >= 500 => post_error(FailureCode::Transient, format!("Discord answered {status}"), true),
        _ => post_error(FailureCode::Refused, format!("Discord refused the message: {said_words}"), false),
    }
}

/// The message Discord created holds the attachment at its full size.
fn confirm(body: &str, file: Option<(&str, u64)>) -> Result<(), PostError> {
    let v: Value = serde_json::from_str(body).map_err(|_| {
        post_error(FailureCode::Transient, "Discord's answer is not the message it created".into(), true)
    })?;
    if v.get("id").is_none() {
        return Err(post_error(FailureCode::Transient, "Discord's answer names no message".into(), true));
    }
    let Some((name, size)) = file else { return Ok(()) };
    let held = v.get("attachments").and_then(Value::as_array).into_iter().flatten().any(|a| {
        a.get("filename").and_then(Value::as_str) == Some(name) && a.get("size").and_then(Value::as_u64) == Some(size)
    });
    if held {
        Ok(())
    } else {
        Err(post_error(FailureCode::Transient, format!("Discord's message does not hold {name} at {size} bytes"), true))
    }
}

impl CopySink for DiscordDestination {
    fn id(&self) -> &DestinationId {
        &DestinationId::DISCORD
    }

    fn send<'a>(&'a self, job: Handover<'a>) -> BoxFuture<'a, Result<u64, CopyFailure>> {
        Box::pin(self.send_archive(job.archive, job.sent_parts, job.cancel))
    }
}

impl Probe for DiscordDestination {
    fn subject(&self) -> String {
        DestinationId::DISCORD.to_string()
    }

    fn probe<'a>(&'a self, _: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(async move { self.ask().await.map(Answer::Fine) })
    }
}

impl Notifier for DiscordDestination {
    fn kind(&self) -> NotifierKind {
        DestinationKind::Discord.into()
    }

    fn has_recipients(&self) -> bool {
        true
    }

    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(async move {
            let never = CancellationToken::new();
            self.post(text, false, None, &never).await.map_err(|e| AlertError::from(e.into_failure(0)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_classified() {
        let h = HeaderMap::new();
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            r#"{"message": "You are being rate limited.", "retry_after": 0.25, "global": false}"#,
        );
        assert!(e.transient);
        assert_eq!(e.retry_after, Some(Duration::from_millis(250)));
        let mut h = HeaderMap::new();
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS, &h, "").retry_after, Some(Duration::from_secs(3)));
        let e = classify(
            StatusCode::PAYLOAD_TOO_LARGE,
            &HeaderMap::new(),
            r#"{"message": "Request entity too large", "code": 40005}"#,
        );
        assert_eq!((e.code, e.transient), (FailureCode::FileTooLarge, false));
        let e = classify(StatusCode::NOT_FOUND, &HeaderMap::new(), r#"{"message": "Unknown Webhook", "code": 10015}"#);
        assert_eq!((e.code, e.transient), (FailureCode::BadCredentials, false));
        assert!(e.message.contains("Unknown Webhook (code 10015)"), "{}", e.message);
        let e = classify(StatusCode::BAD_GATEWAY, &HeaderMap::new(), "<html>");
        assert!(e.transient);
        let e =
            classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), r#"{"message": "Invalid Form Body", "code": 50035}"#);
        assert_eq!((e.code, e.transient), (FailureCode::Refused, false));
    }

    #[test]
    fn only_a_message_holding_the_whole_file_confirms_it() {
        let body = r#"{"id": "1", "attachments": [{"id": "2", "filename": "a.zip", "size": 10}]}"#;
        assert!(confirm(body, Some(("a.zip", 10))).is_ok());
        assert!(confirm(body, Some(("a.zip", 11))).is_err());
        assert!(confirm(r#"{"id": "1", "attachments": []}"#, Some(("a.zip", 10))).is_err());
        assert!(confirm(r#"{"id": "1"}"#, None).is_ok());
        assert!(confirm("", None).is_err());
    }
}
