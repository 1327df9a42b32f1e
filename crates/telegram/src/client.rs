//! [`Telegram`]: the configured bots (an uploading one whose timeout fits a
//! big file, a polling one for the dashboard), retry with backon, pacing,
//! and a `Debug` that never shows the token.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::section::TelegramConfig;
use backon::Retryable;
use lifeboat_core::config::{RetryConfig, Secret};
use lifeboat_core::destination::Surroundings;
use teloxide::Bot;
use teloxide::payloads::{SendDocumentSetters, SendMessageSetters};
use teloxide::requests::Requester;
use teloxide::types::{ChatId, FileId, InputFile, Message};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::{FailureKind, SendError, classify, scrub};

/// Messages to one chat at most this often (Telegram: about 1/s per chat).
const PER_CHAT_GAP: Duration = Duration::from_secs(1);
/// All messages at most this often (Telegram: 30/s overall).
const GLOBAL_GAP: Duration = Duration::from_millis(40);

/// The Telegram side of Lifeboat, built from the configuration. Cheap to
/// clone (clones share pacing and the bad-token flag).
#[derive(Clone)]
pub struct Telegram {
    upload_bot: Bot,
    poll_bot: Bot,
    token: Secret,
    pub(crate) admins: Vec<i64>,
    pub(crate) retry: RetryConfig,
    /// Archives arrive without a notification sound (alerts always ring).
    quiet_archives: bool,
    token_rejected: Arc<AtomicBool>,
    pacer: Arc<tokio::sync::Mutex<Pacer>>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("token", &self.token)
            .field("api_url", &self.upload_bot.api_url().as_str())
            .field("admins", &self.admins)
            .field("retry", &self.retry)
            .field("token_rejected", &self.token_rejected.load(Ordering::Relaxed))
            .finish()
    }
}

#[derive(Default)]
struct Pacer {
    per_chat: HashMap<i64, Instant>,
    last: Option<Instant>,
}

/// What a document send returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDocument {
    /// Telegram's file_id of the document (reuse it to send again).
    pub file_id: String,
    /// The message carrying it.
    pub message_id: i64,
    /// True when the bytes were uploaded (not sent by file_id).
    pub uploaded: bool,
}

/// Where a document comes from.
#[derive(Debug, Clone)]
pub(crate) enum Source<'a> {
    /// Upload this file under this name.
    Upload(&'a std::path::Path, &'a str),
    /// Re-send a file Telegram already has.
    FileId(&'a str),
}

impl Telegram {
    /// The configured Telegram side, from its own section and what it
    /// needs besides (the retry policy, and whether routine archives
    /// arrive without a sound), or None when no token is set (delivery
    /// disabled: report it as such, not as a failure). Also None, with an
    /// error logged, if the HTTP client cannot be built.
    pub fn from_config(t: &TelegramConfig, around: &Surroundings) -> Option<Telegram> {
        if t.token.is_empty() {
            return None;
        }
        let url = t.api_url.clone();
        // teloxide's default client gives up after 17 s in total, which kills
        // a 50 MB upload on a slow link: the uploading bot gets its own.
        let upload_client =
            teloxide::net::default_reqwest_settings().timeout(Duration::from_secs(t.upload_timeout_secs)).build();
        // The dashboard long-polls for 10 s: its client must wait longer.
        let poll_client = teloxide::net::default_reqwest_settings().timeout(Duration::from_secs(30)).build();
        let (upload_client, poll_client) = match (upload_client, poll_client) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(
                    "cannot build the HTTP client for Telegram: {}",
                    scrub(&e.to_string(), t.token.expose())
                );
                return None;
            }
        };
        let token = t.token.expose();
        Some(Telegram {
            upload_bot: Bot::with_client(token, upload_client).set_api_url(url.clone()),
            poll_bot: Bot::with_client(token, poll_client).set_api_url(url),
            token: t.token.clone(),
            admins: t.admin_ids.clone(),
            retry: around.retry.clone(),
            quiet_archives: around.quiet_routine,
            token_rejected: Arc::new(AtomicBool::new(false)),
            pacer: Arc::default(),
        })
    }

    /// A bot for long polling (the dashboard): its client waits longer than
    /// the 10 s poll. Never log it: teloxide's `Bot` prints its token in `Debug`.
    pub fn bot(&self) -> Bot {
        self.poll_bot.clone()
    }

    /// The admins every archive goes to.
    pub fn admins(&self) -> &[i64] {
        &self.admins
    }

    /// True once Telegram said the token is wrong (401/404): nothing more is
    /// sent by this process.
    pub fn token_rejected(&self) -> bool {
        self.token_rejected.load(Ordering::SeqCst)
    }

    /// Removes the token from a text (an error message, say).
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, self.token.expose())
    }

    fn classify(&self, e: &teloxide::RequestError) -> SendError {
        let err = classify(e, self.token.expose());
        if err.kind == FailureKind::BadToken {
            self.token_rejected.store(true, Ordering::SeqCst);
        }
        err
    }

    /// Asks the Bot API who the bot is (`getMe`), once, within `within`:
    /// whether this server reaches the API and the token is accepted.
    /// Sends nothing to anyone.
    pub async fn probe(&self, within: Duration) -> Result<String, SendError> {
        let host = self.upload_bot.api_url().host_str().unwrap_or("the Bot API").to_string();
        match tokio::time::timeout(within, self.upload_bot.get_me()).await {
            Ok(Ok(me)) => Ok(format!("the Bot API at {host} answers: the token is accepted (bot @{})", me.username())),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => {
                Err(SendError::transient(format!("the Bot API at {host} did not answer within {} s", within.as_secs())))
            }
        }
    }

    /// Waits so that one chat gets at most ~1 message/s and all chats ~25/s.
    async fn pace(&self, chat: i64) {
        let mut p = self.pacer.lock().await;
        let now = Instant::now();
        let mut at = now;
        if let Some(t) = p.per_chat.get(&chat) {
            at = at.max(*t + PER_CHAT_GAP);
        }
        if let Some(t) = p.last {
            at = at.max(t + GLOBAL_GAP);
        }
        if at > now {
            tokio::time::sleep_until(at).await;
        }
        let sent = Instant::now();
        p.per_chat.insert(chat, sent);
        p.last = Some(sent);
    }

    /// Runs `op` with retry of transient failures: exponential backoff with
    /// jitter, except after a 429 where it waits exactly `retry_after`.
    pub(crate) async fn with_retry<T, F, Fut>(
        &self,
        what: &str,
        cancel: &CancellationToken,
        op: F,
    ) -> Result<T, SendError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SendError>>,
    {
        if self.token_rejected() {
            return Err(self.classify(&teloxide::RequestError::Api(teloxide::ApiError::InvalidToken)));
        }
        let ceiling = Duration::from_secs(self.retry.max_delay_secs);
        // A flood wait longer than this is not sat out inside one cycle: the
        // row stays pending and the next cycle tries again.
        let longest_wait = ceiling.max(Duration::from_secs(60));
        let retried = op
            .retry(self.retry.backoff())
            .when(move |e: &SendError| e.is_transient() && e.retry_after().is_none_or(|w| w <= longest_wait))
            // Telegram's retry_after exactly; otherwise the backoff.
            .adjust(|e: &SendError, d| d.map(|d| e.retry_after().unwrap_or(d)))
            .notify(|e: &SendError, d: Duration| {
                tracing::warn!(what, reason = %e.reason, wait_ms = d.as_millis() as u64, "Telegram call failed ({what}): {}; retrying in {d:?}", e.reason);
            });
        tokio::select! {
            r = retried => r,
            _ = cancel.cancelled() => Err(SendError::transient("stopped before Telegram confirmed it")),
        }
    }

    /// One attempt at sending a document.
    pub(crate) async fn send_document_once(
        &self,
        chat: i64,
        source: &Source<'_>,
        caption: &str,
    ) -> Result<SentDocument, SendError> {
        self.pace(chat).await;
        let (input, uploaded) = match source {
            Source::Upload(path, name) => (InputFile::file(path.to_path_buf()).file_name(name.to_string()), true),
            Source::FileId(id) => (InputFile::file_id(FileId(id.to_string())), false),
        };
        let msg: Message = self
            .upload_bot
            .send_document(ChatId(chat), input)
            .caption(caption.to_string())
            .disable_notification(self.quiet_archives)
            .await
            .map_err(|e| self.classify(&e))?;
        let Some(doc) = msg.document() else {
            return Err(SendError::transient("Telegram's answer carried no document"));
        };
        Ok(SentDocument { file_id: doc.file.id.0.clone(), message_id: msg.id.0 as i64, uploaded })
    }

    /// One attempt at sending a text message, with an optional button
    /// (label, callback data).
    pub(crate) async fn send_text_once(
        &self,
        chat: i64,
        text: &str,
        button: Option<(&str, &str)>,
    ) -> Result<i64, SendError> {
        self.pace(chat).await;
        let mut req = self.upload_bot.send_message(ChatId(chat), text.to_string());
        if let Some((label, data)) = button {
            req = req.reply_markup(teloxide::types::InlineKeyboardMarkup::new([[
                teloxide::types::InlineKeyboardButton::callback(label.to_string(), data.to_string()),
            ]]));
        }
        let msg = req
            .link_preview_options(teloxide::types::LinkPreviewOptions {
                is_disabled: true,
                url: None,
                prefer_small_media: false,
                prefer_large_media: false,
                show_above_text: false,
            })
            .await
            .map_err(|e| self.classify(&e))?;
        Ok(msg.id.0 as i64)
    }
}
