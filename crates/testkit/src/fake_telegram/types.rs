//! What tests inject (faults) and read back (calls, uploads, messages).

use std::time::Instant;

use serde_json::Value;

/// The fake bot's user id (`getMe`, `from` of its messages).
pub const BOT_ID: i64 = 7_000_000_001;
/// The fake bot's username.
pub const BOT_USERNAME: &str = "lifeboat_test_bot";
/// Default upload limit: Telegram's official 50 MB.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 50 * 1000 * 1000;
/// How long after a press its callback query can be answered, by default.
pub const ANSWER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);
/// `getFile` download limit of the official server.
pub const DOWNLOAD_LIMIT: u64 = 20 * 1000 * 1000;

/// An injected failure, answered with Telegram's real status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 403 "Forbidden: bot can't initiate conversation with a user".
    NeverStarted,
    /// 403 "Forbidden: bot was blocked by the user".
    Blocked,
    /// 403 "Forbidden: bot was kicked from the group chat".
    Kicked,
    /// 400 "Bad Request: chat not found".
    ChatNotFound,
    /// 400 with `parameters.migrate_to_chat_id`.
    MigratedTo(i64),
    /// 429 "Too Many Requests: retry after N" with `parameters.retry_after`.
    TooManyRequests {
        /// Seconds.
        retry_after: u32,
    },
    /// A JSON 5xx body (500 "Internal Server Error", 502 "Bad Gateway", ...).
    ServerError {
        /// HTTP status, 5xx.
        status: u16,
    },
    /// A 5xx with an HTML page, as a proxy in front of the API sends.
    ServerErrorHtml {
        /// HTTP status, 5xx.
        status: u16,
    },
    /// 413 "Request Entity Too Large".
    TooLarge,
    /// 401 "Unauthorized" (a revoked token).
    Unauthorized,
    /// The socket is closed after reading the request, without a response.
    DropConnection,
    /// A proxy's non-JSON error page that echoes the request path (with
    /// the token in it) after `padding` bytes: `text/plain` 502, or an HTML
    /// 404 as a web server's "not found" page.
    EchoPath {
        /// Bytes of text before the path.
        padding: usize,
        /// An HTML 404 instead of a `text/plain` 502.
        html: bool,
    },
}

/// One call the server received.
#[derive(Debug, Clone)]
pub struct Call {
    /// Canonical method name (`sendDocument`), whatever case was sent.
    pub method: String,
    /// `chat_id`, when the call had one.
    pub chat_id: Option<i64>,
    /// When it arrived.
    pub at: Instant,
    /// It carried a file in a multipart body.
    pub upload: bool,
    /// Bytes of the uploaded file, when `upload`.
    pub upload_size: u64,
    /// Bytes of the whole request body.
    pub body_size: u64,
    /// HTTP status answered; 0 for a dropped connection.
    pub status: u16,
    /// The parameters (multipart text fields, JSON, form or query), files excluded.
    pub params: Value,
}

/// A file received by `sendDocument`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The chat it was sent to.
    pub chat_id: i64,
    /// The multipart file name.
    pub file_name: String,
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// The caption, if any.
    pub caption: Option<String>,
    /// The `file_id` the server gave it.
    pub file_id: String,
    /// The message that carries it.
    pub message_id: i64,
}

/// A message the bot sent (text or document).
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub chat_id: i64,
    /// Its id in the chat.
    pub message_id: i64,
    /// `sendMessage` or `sendDocument`.
    pub method: String,
    /// Text (current, after edits) of a text message.
    pub text: Option<String>,
    /// Caption of a document.
    pub caption: Option<String>,
    /// `file_id` of a document.
    pub file_id: Option<String>,
    /// File name of a document.
    pub file_name: Option<String>,
    /// True when the document came by `file_id` (no upload).
    pub by_file_id: bool,
    /// `reply_markup` (current, after edits), as sent.
    pub reply_markup: Option<Value>,
    /// The full Message object as answered.
    pub raw: Value,
}

/// One `editMessageText`/`editMessageReplyMarkup` that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    pub chat_id: i64,
    /// Edited message.
    pub message_id: i64,
    /// New text (None for a markup-only edit).
    pub text: Option<String>,
    /// New `reply_markup`.
    pub reply_markup: Option<Value>,
}

/// One `answerCallbackQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackAnswer {
    /// The query answered.
    pub callback_query_id: String,
    /// Text shown.
    pub text: Option<String>,
    /// Shown as an alert.
    pub show_alert: bool,
}
