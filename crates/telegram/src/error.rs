//! What a failed Bot API call means for delivery: retry it, give up on this
//! admin, or stop because the token itself is wrong. Reasons are in words an
//! admin can act on, and never contain the token.
//!
//! # Error policy
//! - Every call's failure is classified once, here ([`classify`]), into a
//!   [`FailureKind`] that decides retry and a [`FailureCode`] that is stored
//!   beside the outbox row; nothing downstream reads the words to decide.
//! - Transient failures are retried with backoff (honouring `retry_after`);
//!   what remains after the retries stays pending in the outbox for the next
//!   cycle. Permanent failures are recorded and not retried until the
//!   configuration changes.
//! - The human reason is scrubbed of the token (any long piece of it, and
//!   request URLs) before it is stored, logged or shown.

use std::time::Duration;

use lifeboat_core::state::FailureCode;
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
    /// Why, as the code the outbox stores.
    pub code: FailureCode,
    /// Human reason, token-free.
    pub reason: String,
}

impl SendError {
    /// A transient failure: retried.
    pub fn transient(reason: impl Into<String>) -> SendError {
        SendError {
            kind: FailureKind::Transient { retry_after: None },
            code: FailureCode::Transient,
            reason: reason.into(),
        }
    }

    /// A failure for this chat only: not retried.
    pub fn permanent(code: FailureCode, reason: impl Into<String>) -> SendError {
        SendError { kind: FailureKind::Permanent, code, reason: reason.into() }
    }

    /// The file itself cannot be sent to anyone.
    pub fn file_problem(code: FailureCode, reason: impl Into<String>) -> SendError {
        SendError { kind: FailureKind::FileProblem, code, reason: reason.into() }
    }

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

/// Shortest piece of the token's secret that is redacted wherever it shows:
/// a proxy's page or a truncated message may hold a cut token, and any run
/// this long of a random 35-character secret is no accident.
const SECRET_PIECE: usize = 6;

/// Removes the token from a text: the whole token, and any piece of its
/// secret half of six characters or more (a prefix left by a
/// cut, or any other fragment).
pub fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    let text = text.replace(token, "<token>");
    let secret = token.split_once(':').map_or(token, |(_, s)| s).as_bytes();
    if secret.len() < SECRET_PIECE {
        return text;
    }
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        // The longest piece of the secret starting here.
        let longest = (0..secret.len())
            .map(|j| bytes[i..].iter().zip(&secret[j..]).take_while(|(a, b)| a == b).count())
            .max()
            .unwrap_or(0);
        if longest >= SECRET_PIECE {
            out.push_str("<token>");
            i += longest;
        } else {
            let ch = text[i..].chars().next().expect("i is on a char boundary");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

use SendError as E;

fn transient(reason: impl Into<String>) -> SendError {
    E::transient(reason)
}

const CHAT_NOT_FOUND: &str =
    "chat not found — the id is wrong or the user never started the bot; check telegram.admin_ids";

/// A Telegram description starting "Forbidden:", in words and as a code.
fn forbidden(description: &str) -> SendError {
    let d = description.to_ascii_lowercase();
    let (code, reason) = if d.contains("initiate conversation") {
        (FailureCode::NeverStarted, "never started the bot — ask them to press Start".to_string())
    } else if d.contains("blocked") {
        (FailureCode::Blocked, "blocked the bot — ask them to unblock it and press Start".into())
    } else if d.contains("kicked") {
        (FailureCode::Kicked, "the bot was removed from this chat — add it back".into())
    } else if d.contains("deactivated") {
        (FailureCode::Deactivated, "this Telegram account is deleted — remove it from telegram.admin_ids".into())
    } else if d.contains("bots") {
        (
            FailureCode::BotRecipient,
            "this id is a bot; bots cannot receive messages from bots — fix telegram.admin_ids".into(),
        )
    } else {
        (FailureCode::Refused, format!("Telegram refuses to send to this chat ({description})"))
    };
    E::permanent(code, reason)
}

/// Classifies a teloxide error. `token` is scrubbed from any text kept.
pub fn classify(err: &RequestError, token: &str) -> SendError {
    let e = match err {
        RequestError::RetryAfter(s) => SendError {
            kind: FailureKind::Transient { retry_after: Some(s.duration()) },
            code: FailureCode::Transient,
            reason: format!("Telegram asked to slow down (429 Too Many Requests, retry after {} s)", s.seconds()),
        },
        RequestError::MigrateToChatId(to) => E::permanent(
            FailureCode::Migrated,
            format!("the group became a supergroup with id {}; put {} in telegram.admin_ids instead", to.0, to.0),
        ),
        RequestError::Network(e) => {
            // The host is no secret; the path holds the token.
            let at = e.url().and_then(|u| Some(format!(" at {}", u.host_str()?))).unwrap_or_default();
            let what = if e.is_timeout() {
                format!(
                    "the request to the Telegram API{at} timed out (raise telegram.upload_timeout_secs for big archives)"
                )
            } else if e.is_connect() {
                format!("cannot connect to the Telegram API{at}")
            } else {
                format!("the connection to the Telegram API{at} failed")
            };
            // reqwest's own message names the URL: only the causes beneath
            // it are kept ("Connection refused", "dns error"), scrubbed too.
            let mut causes = Vec::new();
            let mut source = std::error::Error::source(e.as_ref());
            while let Some(cause) = source {
                let text = cause.to_string();
                if !causes.contains(&text) {
                    causes.push(text);
                }
                source = cause.source();
            }
            let detail = if causes.is_empty() { String::new() } else { format!(": {}", causes.join(": ")) };
            transient(format!("network error: {what}{}", scrub(&detail, token)))
        }
        RequestError::InvalidJson { raw, .. } => {
            // Scrubbed before it is cut: a cut token would no longer match.
            let snippet: String = scrub(raw, token).chars().filter(|c| !c.is_control()).take(120).collect();
            transient(format!(
                "Telegram (or a proxy in front of it) answered with something that is not the Bot API: {snippet}"
            ))
        }
        RequestError::Io(e) => {
            E::file_problem(FailureCode::FileUnreadable, format!("cannot read the archive file: {e}"))
        }
        RequestError::Api(api) => classify_api(api),
    };
    SendError { reason: scrub(&e.reason, token), ..e }
}

fn classify_api(api: &ApiError) -> SendError {
    match api {
        ApiError::InvalidToken => SendError {
            kind: FailureKind::BadToken,
            code: FailureCode::BadCredentials,
            reason: "Telegram rejected the bot token (401/404); check telegram.token — copy it again from @BotFather"
                .into(),
        },
        ApiError::RequestEntityTooLarge => E::file_problem(
            FailureCode::FileTooLarge,
            "the file is too large for this Bot API server (413 Request Entity Too Large); lower telegram.max_upload_mb so archives are split into smaller parts",
        ),
        ApiError::ChatNotFound => E::permanent(FailureCode::ChatNotFound, CHAT_NOT_FOUND),
        ApiError::UserNotFound => E::permanent(FailureCode::ChatNotFound, "user not found — check telegram.admin_ids"),
        ApiError::BotBlocked => forbidden("Forbidden: bot was blocked by the user"),
        ApiError::CantInitiateConversation => forbidden("initiate conversation"),
        ApiError::BotKicked | ApiError::BotKickedFromSupergroup | ApiError::BotKickedFromChannel => forbidden("kicked"),
        ApiError::UserDeactivated => forbidden("deactivated"),
        ApiError::CantTalkWithBots => forbidden("bots"),
        ApiError::WrongFileId | ApiError::WrongFileIdOrUrl | ApiError::FailedToGetUrlContent => SendError {
            kind: FailureKind::FileIdRejected,
            code: FailureCode::Transient,
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
        forbidden(d)
    } else if lower.contains("chat not found") {
        E::permanent(FailureCode::ChatNotFound, CHAT_NOT_FOUND)
    } else if lower.contains("wrong file identifier") || lower.contains("wrong remote file") {
        SendError {
            kind: FailureKind::FileIdRejected,
            code: FailureCode::Transient,
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
        E::permanent(FailureCode::Refused, format!("Telegram refused the request ({d})"))
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

    /// Every 8-character piece of the token's secret found in `text`.
    fn secret_pieces(text: &str) -> Vec<String> {
        let secret = TOKEN.split_once(':').unwrap().1;
        (0..=secret.len() - 8).map(|i| &secret[i..i + 8]).filter(|p| text.contains(p)).map(String::from).collect()
    }

    #[test]
    fn a_proxy_page_echoing_the_path_never_leaks_a_cut_token() {
        let source = std::sync::Arc::new(serde_json::from_str::<serde_json::Value>("<").unwrap_err());
        let path = format!("/bot{TOKEN}/sendDocument");
        for padding in 0..=120 {
            for raw in [
                format!("{}upstream error while proxying POST {path}", "-".repeat(padding)),
                format!(
                    "<html><body>{}<p>The requested URL {path} was not found.</p></body></html>",
                    " ".repeat(padding)
                ),
            ] {
                let e = classify(&RequestError::InvalidJson { source: source.clone(), raw: raw.into() }, TOKEN);
                assert!(e.is_transient());
                assert_eq!(secret_pieces(&e.reason), Vec::<String>::new(), "padding {padding}: {}", e.reason);
            }
        }
    }

    #[test]
    fn scrub_removes_any_piece_of_the_secret() {
        let secret = TOKEN.split_once(':').unwrap().1;
        for text in [
            format!("cut here /bot{}", &TOKEN[..20]),
            format!("middle {} end", &secret[10..20]),
            format!("tail …{}", &secret[secret.len() - 9..]),
            format!("twice {0} and {0}", &secret[3..12]),
            format!("ünïcode {}ß", &secret[..7]),
        ] {
            let out = scrub(&text, TOKEN);
            assert_eq!(secret_pieces(&out), Vec::<String>::new(), "{text} -> {out}");
            assert!(out.contains("<token>"), "{out}");
        }
        assert_eq!(scrub("chat not found (400)", TOKEN), "chat not found (400)");
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
