//! What a failed Bot API call means for delivery: retry it, give up on this
//! admin, or stop because the token itself is wrong. Reasons are in words an
//! admin can act on, and never contain the token.

use std::time::Duration;

use teloxide::{ApiError, RequestError};

/// How a failure is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Network trouble, 5xx, 429, a dropped connection: retry.
    Transient {
        /// Telegram's `retry_after`: wait exactly this long before the next try.
        retry_after: Option<Duration>,
    },
    /// This chat will not accept it (403, chat not found, migrated group,
    /// file too large): do not retry.
    Permanent,
    /// The file itself cannot be sent (413 too large, unreadable): no
    /// admin will get it; do not retry.
    FileProblem,
    /// Telegram rejected the bot token (401/404): nothing can be sent this run.
    BadToken,
    /// A remembered `file_id` was refused: upload the file again.
    FileIdRejected,
}

/// A classified failure of one call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendError {
    /// What to do about it.
    pub kind: FailureKind,
    /// Human reason, token-free.
    pub reason: String,
}

impl SendError {
    /// Retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, FailureKind::Transient { .. })
    }
    /// Retrying will not help for this chat.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }
    /// Telegram's `retry_after`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            FailureKind::Transient { retry_after } => retry_after,
            _ => None,
        }
    }
}

/// Removes the token (and its secret half) from a text that may carry a
/// request URL, as reqwest errors do.
pub fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    let mut out = text.replace(token, "<token>");
    if let Some((_, secret)) = token.split_once(':')
        && secret.len() >= 8
    {
        out = out.replace(secret, "<token>");
    }
    out
}

fn permanent(reason: impl Into<String>) -> SendError {
    SendError { kind: FailureKind::Permanent, reason: reason.into() }
}

fn transient(reason: impl Into<String>) -> SendError {
    SendError { kind: FailureKind::Transient { retry_after: None }, reason: reason.into() }
}

/// Human reason for a Telegram description starting "Forbidden:".
fn forbidden_reason(description: &str) -> String {
    let d = description.to_ascii_lowercase();
    if d.contains("initiate conversation") {
        "never started the bot — ask them to press Start".into()
    } else if d.contains("blocked") {
        "blocked the bot — ask them to unblock it and press Start".into()
    } else if d.contains("kicked") {
        "the bot was removed from this chat — add it back".into()
    } else if d.contains("deactivated") {
        "this Telegram account is deleted — remove it from telegram.admin_ids".into()
    } else if d.contains("bots") {
        "this id is a bot; bots cannot receive messages from bots — fix telegram.admin_ids".into()
    } else {
        format!("Telegram refuses to send to this chat ({description})")
    }
}

/// Classifies a teloxide error. `token` is scrubbed from any text kept.
pub fn classify(err: &RequestError, token: &str) -> SendError {
    let e = match err {
        RequestError::RetryAfter(s) => SendError {
            kind: FailureKind::Transient { retry_after: Some(s.duration()) },
            reason: format!("Telegram asked to slow down (429 Too Many Requests, retry after {} s)", s.seconds()),
        },
        RequestError::MigrateToChatId(to) => permanent(format!(
            "the group became a supergroup with id {}; put {} in telegram.admin_ids instead",
            to.0, to.0
        )),
        RequestError::Network(e) => {
            let what = if e.is_timeout() {
                "the request timed out (raise telegram.upload_timeout_secs for big archives)".to_string()
            } else if e.is_connect() {
                "cannot connect to the Telegram API".to_string()
            } else {
                "the connection to Telegram failed".to_string()
            };
            // reqwest's message names the URL, which holds the token: scrub it.
            transient(format!("network error: {what} ({})", scrub(&e.to_string(), token)))
        }
        RequestError::InvalidJson { raw, .. } => {
            let snippet: String = raw.chars().filter(|c| !c.is_control()).take(120).collect();
            transient(format!(
                "Telegram (or a proxy in front of it) answered with something that is not the Bot API: {snippet}"
            ))
        }
        RequestError::Io(e) => {
            SendError { kind: FailureKind::FileProblem, reason: format!("cannot read the archive file: {e}") }
        }
        RequestError::Api(api) => classify_api(api),
    };
    SendError { reason: scrub(&e.reason, token), ..e }
}

fn classify_api(api: &ApiError) -> SendError {
    match api {
        ApiError::InvalidToken => SendError {
            kind: FailureKind::BadToken,
            reason: "Telegram rejected the bot token (401/404); check telegram.token — copy it again from @BotFather"
                .into(),
        },
        ApiError::RequestEntityTooLarge => SendError {
            kind: FailureKind::FileProblem,
            reason: "the file is too large for this Bot API server (413 Request Entity Too Large); lower telegram.max_upload_mb so archives are split into smaller parts".into(),
        },
        ApiError::ChatNotFound => {
            permanent("chat not found — the id is wrong or the user never started the bot; check telegram.admin_ids")
        }
        ApiError::UserNotFound => permanent("user not found — check telegram.admin_ids"),
        ApiError::BotBlocked => permanent(forbidden_reason("Forbidden: bot was blocked by the user")),
        ApiError::CantInitiateConversation => permanent(forbidden_reason("initiate conversation")),
        ApiError::BotKicked | ApiError::BotKickedFromSupergroup | ApiError::BotKickedFromChannel => {
            permanent(forbidden_reason("kicked"))
        }
        ApiError::UserDeactivated => permanent(forbidden_reason("deactivated")),
        ApiError::CantTalkWithBots => permanent(forbidden_reason("bots")),
        ApiError::WrongFileId | ApiError::WrongFileIdOrUrl | ApiError::FailedToGetUrlContent => SendError {
            kind: FailureKind::FileIdRejected,
            reason: "Telegram no longer knows this file's id; it will be uploaded again".into(),
        },
        ApiError::Unknown(d) => classify_description(d),
        other => {
            let d = other.to_string();
            classify_description(&d)
        }
    }
}

/// Classifies by Telegram's description text, for errors teloxide does not
/// recognise (its "Unauthorized: …" variants never match the real
/// "Forbidden: …" texts).
pub fn classify_description(d: &str) -> SendError {
    let lower = d.to_ascii_lowercase();
    if d.starts_with("Forbidden:") {
        permanent(forbidden_reason(d))
    } else if lower.contains("chat not found") {
        permanent("chat not found — the id is wrong or the user never started the bot; check telegram.admin_ids")
    } else if lower.contains("wrong file identifier") || lower.contains("wrong remote file") {
        SendError {
            kind: FailureKind::FileIdRejected,
            reason: "Telegram no longer knows this file's id; it will be uploaded again".into(),
        }
    } else if d == "Unauthorized" || d == "Not Found" {
        classify_api(&ApiError::InvalidToken)
    } else if lower.contains("too many requests") {
        transient(format!("Telegram asked to slow down ({d})"))
    } else if lower.contains("internal server error")
        || lower.contains("bad gateway")
        || lower.contains("service unavailable")
        || lower.contains("gateway timeout")
        || lower.starts_with("internal")
    {
        transient(format!("Telegram server error ({d})"))
    } else if d.starts_with("Bad Request:") || d.starts_with("Conflict:") {
        permanent(format!("Telegram refused the request ({d})"))
    } else {
        transient(format!("Telegram error ({d})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teloxide::types::{ChatId, Seconds};

    const TOKEN: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi";

    #[test]
    fn forbidden_in_any_shape_is_permanent() {
        let e = classify(
            &RequestError::Api(ApiError::Unknown("Forbidden: bot can't initiate conversation with a user".into())),
            TOKEN,
        );
        assert_eq!(e.kind, FailureKind::Permanent);
        assert!(e.reason.contains("never started the bot"), "{}", e.reason);
        let e = classify(&RequestError::Api(ApiError::BotBlocked), TOKEN);
        assert!(e.is_permanent() && e.reason.contains("blocked the bot"));
        let e = classify(&RequestError::Api(ApiError::ChatNotFound), TOKEN);
        assert!(e.is_permanent() && e.reason.contains("chat not found"));
        let e = classify(&RequestError::MigrateToChatId(ChatId(-100123)), TOKEN);
        assert!(e.is_permanent() && e.reason.contains("-100123"));
        let e = classify(&RequestError::Api(ApiError::RequestEntityTooLarge), TOKEN);
        assert!(e.kind == FailureKind::FileProblem && e.reason.contains("max_upload_mb"));
        let e = classify(&RequestError::Api(ApiError::InvalidToken), TOKEN);
        assert_eq!(e.kind, FailureKind::BadToken);
    }

    #[test]
    fn transient_cases() {
        let e = classify(&RequestError::RetryAfter(Seconds::from_seconds(7)), TOKEN);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        for d in ["Internal Server Error", "Bad Gateway", "Gateway Timeout", "Too Many Requests: retry after 5"] {
            assert!(classify_description(d).is_transient(), "{d}");
        }
        let html = RequestError::InvalidJson {
            source: std::sync::Arc::new(serde_json::from_str::<u8>("<html>").unwrap_err()),
            raw: "<html><head><title>502 Bad Gateway</title></head></html>".into(),
        };
        assert!(classify(&html, TOKEN).is_transient());
        assert!(classify_description("Bad Request: message is too long").is_permanent());
    }

    #[test]
    fn scrubs_token_and_secret() {
        let text = format!("error sending request for url (http://x/bot{TOKEN}/SendDocument)");
        let s = scrub(&text, TOKEN);
        assert!(!s.contains(TOKEN) && !s.contains("ABCDEFGHIJ"), "{s}");
        assert!(s.contains("bot<token>/SendDocument"));
    }
}
