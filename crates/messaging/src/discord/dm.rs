//! The Discord bot's owner, by direct message: alerts (a failed or partial
//! cycle, an incident opening or clearing) and, after each scheduled backup
//! that went well, a short note (files, size, backup id), as the Discord
//! bot system Lifeboat replaces sent. The scheduler sends them through the
//! bot's token (`[discord]`), so the owner hears even when the bot's own
//! process is down.
//!
//! Two REST calls: open the DM channel (`POST /users/@me/channels`), then
//! post to it. A 429 waits Discord's `retry_after` (up to a minute); 5xx and
//! network errors are retried per `[retry]`. The token never appears in an
//! error or a log line.

use std::time::Duration;

use backon::Retryable;
use lifeboat_core::config::{RetryConfig, Secret};
use lifeboat_core::destination::{
    AlertError, Answer, BoxFuture, Notifier, NotifierKind, Opened, Probe, ProbeContext, ProbeError, Surroundings,
};
use lifeboat_core::state::FailureCode;
use serde_json::{Value, json};

use super::DiscordBotConfig;

/// Discord's limit on a message's text.
const CONTENT_LIMIT: usize = 2000;
/// A rate-limit wait longer than this is not sat out inside a cycle.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// Adds the owner's direct messages to the notifiers when the bot has a
/// token and an owner. The bot's probe is added with the webhook's
/// ([`super::open_configured`]).
pub fn open_configured(bot: &DiscordBotConfig, around: &Surroundings, out: &mut Opened) {
    if let Some(dm) = DiscordOwnerDm::from_config(bot, around) {
        out.notifiers.push(std::sync::Arc::new(dm));
    }
}

/// Direct messages to `discord.owner_id`.
pub struct DiscordOwnerDm {
    retry: RetryConfig,
    /// `{api_url}/v10`.
    api: String,
    token: Secret,
    owner: u64,
    http: reqwest::Client,
}

impl std::fmt::Debug for DiscordOwnerDm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordOwnerDm").field("owner", &self.owner).field("token", &self.token).finish()
    }
}

/// One failed request.
#[derive(Debug)]
struct DmError {
    code: FailureCode,
    message: String,
    transient: bool,
    retry_after: Option<Duration>,
}

impl From<DmError> for AlertError {
    fn from(e: DmError) -> AlertError {
        if e.transient { AlertError::transient(e.code, e.message) } else { AlertError::permanent(e.code, e.message) }
    }
}

impl DiscordOwnerDm {
    /// None unless the bot has a token and an owner.
    pub fn from_config(d: &DiscordBotConfig, around: &Surroundings) -> Option<DiscordOwnerDm> {
        if d.token.is_empty() || d.owner_id == 0 {
            return None;
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| tracing::error!("discord DM: cannot set up HTTP: {}", e.without_url()))
            .ok()?;
        let api = format!("{}/v10", d.api_url.as_str().trim_end_matches('/'));
        Some(DiscordOwnerDm { retry: around.retry.clone(), api, token: d.token.clone(), owner: d.owner_id, http })
    }

    /// Sends `text` to the owner, with retry.
    pub async fn send(&self, text: &str) -> Result<(), AlertError> {
        let channel = self.call("users/@me/channels", json!({ "recipient_id": self.owner.to_string() })).await?;
        let Some(channel) = channel.get("id").and_then(Value::as_str).map(str::to_string) else {
            return Err(AlertError::transient(FailureCode::Transient, "Discord's answer names no DM channel"));
        };
        let content = json!({ "content": crate::fit(text, CONTENT_LIMIT), "allowed_mentions": { "parse": [] } });
        self.call(&format!("channels/{channel}/messages"), content).await?;
        Ok(())
    }

    /// POSTs `body` to `path` under the API, retrying what may pass.
    async fn call(&self, path: &str, body: Value) -> Result<Value, DmError> {
        let url = format!("{}/{path}", self.api);
        let attempt = || async {
            let resp = self
                .http
                .post(&url)
                .header("authorization", format!("Bot {}", self.token.expose()))
                .json(&body)
                .send()
                .await
                .map_err(|e| network_error(&e))?;
            let status = resp.status();
            let retry_header = resp.headers().get("retry-after").and_then(|h| h.to_str().ok()).map(str::to_string);
            let text = resp.text().await.map_err(|e| network_error(&e))?;
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            if status.is_success() {
                return Ok(v);
            }
            Err(classify(status.as_u16(), &v, retry_header.as_deref(), self.owner))
        };
        attempt
            .retry(self.retry.backoff())
            .when(|e: &DmError| e.transient && e.retry_after.is_none_or(|w| w <= LONGEST_WAIT))
            .adjust(|e: &DmError, d| d.map(|d| e.retry_after.unwrap_or(d)))
            .notify(|e: &DmError, d: Duration| {
                tracing::warn!(wait_ms = d.as_millis() as u64, "Discord DM: {}; retrying", e.message);
            })
            .await
    }
}

/// What to fix when Discord does not take the bot's token.
const BOT_FIX: &str = "put the bot's current token (Developer Portal → Bot → Reset Token) in discord.token_file; \
                       the owner's DMs and lifeboat-discord need it";

/// The Discord bot's token, as diagnose checks it: Discord says who the bot
/// is (`GET /users/@me`), so the token works and the API answers. Sends
/// nothing.
pub struct BotProbe {
    /// `{api_url}/v10/users/@me`.
    url: String,
    token: Secret,
    owner: u64,
}

impl BotProbe {
    /// None unless the bot has a token.
    pub fn from_config(d: &DiscordBotConfig) -> Option<BotProbe> {
        if d.token.is_empty() {
            return None;
        }
        let url = format!("{}/v10/users/@me", d.api_url.as_str().trim_end_matches('/'));
        Some(BotProbe { url, token: d.token.clone(), owner: d.owner_id })
    }

    async fn ask(&self) -> Result<String, ProbeError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ProbeError::new(FailureCode::Transient, e.without_url().to_string(), BOT_FIX))?;
        let failed = |e: DmError| ProbeError::new(e.code, e.message, BOT_FIX);
        let resp = http
            .get(&self.url)
            .header("authorization", format!("Bot {}", self.token.expose()))
            .send()
            .await
            .map_err(|e| failed(network_error(&e)))?;
        let status = resp.status().as_u16();
        let v: Value = serde_json::from_str(&resp.text().await.unwrap_or_default()).unwrap_or_default();
        if (200..300).contains(&status) {
            let name = v.get("username").and_then(Value::as_str).unwrap_or("?");
            return Ok(format!("bot {name:?} answers"));
        }
        Err(failed(classify(status, &v, None, self.owner)))
    }
}

impl Probe for BotProbe {
    fn subject(&self) -> String {
        "discord-bot".to_string()
    }

    fn probe<'a>(&'a self, _: &'a ProbeContext<'a>) -> BoxFuture<'a, Result<Answer, ProbeError>> {
        Box::pin(async move { self.ask().await.map(Answer::Fine) })
    }
}

fn network_error(e: &reqwest::Error) -> DmError {
    let words = if e.is_timeout() { "Discord did not answer in time" } else { "cannot reach Discord" };
    DmError { code: FailureCode::Transient, message: words.to_string(), transient: true, retry_after: None }
}

/// What a refusal means, from its status and Discord's JSON body.
fn classify(status: u16, v: &Value, retry_header: Option<&str>, owner: u64) -> DmError {
    let said = v.get("message").and_then(Value::as_str).unwrap_or("");
    let code = v.get("code").and_then(Value::as_u64).unwrap_or(0);
    let refused = |code, message: String| DmError { code, message, transient: false, retry_after: None };
    match status {
        429 => {
            let retry_after = v
                .get("retry_after")
                .and_then(Value::as_f64)
                .or_else(|| retry_header.and_then(|s| s.trim().parse().ok()))
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64);
            let global = if v.get("global").and_then(Value::as_bool) == Some(true) { " (global)" } else { "" };
            DmError {
                code: FailureCode::Transient,
                message: format!("rate limited by Discord{global}"),
                transient: true,
                retry_after,
            }
        }
        401 => refused(
            FailureCode::BadCredentials,
            "Discord refused the bot token; put the current one in discord.token_file".to_string(),
        ),
        // 50007: Cannot send messages to this user.
        403 | 400 if code == 50007 => refused(
            FailureCode::Blocked,
            format!(
                "Discord will not deliver a DM to user {owner}: they share no server with the bot or turned DMs off"
            ),
        ),
        s if s >= 500 => DmError {
            code: FailureCode::Transient,
            message: format!("Discord answered {s}"),
            transient: true,
            retry_after: None,
        },
        _ => refused(FailureCode::Refused, format!("Discord refused the DM: {said} (code {code}, HTTP {status})")),
    }
}

impl Notifier for DiscordOwnerDm {
    fn kind(&self) -> NotifierKind {
        NotifierKind::DiscordOwner
    }

    fn has_recipients(&self) -> bool {
        true
    }

    fn alert<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(self.send(text))
    }

    fn backed_up<'a>(&'a self, text: &'a str) -> BoxFuture<'a, Result<(), AlertError>> {
        Box::pin(self.send(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_classified() {
        let e = classify(429, &json!({ "retry_after": 0.25, "global": true }), None, 1);
        assert!(e.transient && e.message.contains("global"));
        assert_eq!(e.retry_after, Some(Duration::from_millis(250)));
        let e = classify(403, &json!({ "message": "Cannot send messages to this user", "code": 50007 }), None, 7);
        assert!(!e.transient && e.code == FailureCode::Blocked && e.message.contains('7'));
        assert!(classify(502, &Value::Null, None, 1).transient);
        assert_eq!(classify(401, &Value::Null, None, 1).code, FailureCode::BadCredentials);
    }
}
