//! A fake Telegram Bot API server on 127.0.0.1:0 for tests, speaking real
//! HTTP with the real response shapes and error bodies.
//!
//! It runs on its own thread with its own Tokio runtime, so a synchronous
//! test (one driving a binary with `assert_cmd`) and an async test use it the
//! same way; dropping the handle stops it.
//!
//! ```no_run
//! # async fn t() {
//! use lifeboat_testkit::fake_telegram::{FakeTelegram, Fault};
//! let fake = FakeTelegram::start().await;
//! fake.fail_chat(42, Fault::NeverStarted);
//! fake.fail_next(1, Fault::TooManyRequests { retry_after: 1 });
//! // point the code under test at fake.api_url(), then:
//! assert_eq!(fake.uploads().len(), 1);
//! # }
//! ```
//!
//! What it answers: `getMe`, `getWebhookInfo`, `deleteWebhook`,
//! `getUpdates` (a real long poll over updates the test injects with
//! [`FakeTelegram::send_text`] and [`FakeTelegram::press_button`]),
//! `sendMessage`, `editMessageText`, `editMessageReplyMarkup`,
//! `answerCallbackQuery`, `setMyCommands`/`getMyCommands`/`deleteMyCommands`,
//! `sendDocument` (a multipart upload, or a re-send by `file_id`),
//! `getFile` and `/file/bot<token>/<path>` downloads, `deleteMessage`,
//! `sendChatAction`, `close`, `logOut`. A second `getUpdates` while one
//! waits ends the first with 409 "Conflict: terminated by other getUpdates
//! request", as Telegram does. Method names are matched
//! case-insensitively, as Telegram does (teloxide sends `SendDocument`).
//!
//! Faults, with the bodies Telegram sends (`parameters` only when it has
//! something, HTTP status = `error_code`): see [`Fault`]. A chat's fault
//! ([`FakeTelegram::fail_chat`]) lasts until cleared; [`FakeTelegram::fail_next`]
//! applies to the next K calls (except `getUpdates`).
//!
//! Note: teloxide sleeps 10 s before reading any 5xx response, so keep tests
//! that inject [`Fault::ServerError`] few.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The fake bot's user id (`getMe`, `from` of its messages).
pub const BOT_ID: i64 = 7_000_000_001;
/// The fake bot's username.
pub const BOT_USERNAME: &str = "lifeboat_test_bot";
/// Default upload limit: Telegram's official 50 MB.
pub const DEFAULT_UPLOAD_LIMIT: u64 = 50 * 1000 * 1000;
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
    /// Chat.
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
    /// Chat.
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

struct StoredFile {
    file_name: String,
    bytes: Arc<Vec<u8>>,
    unique_id: String,
}

struct OneShot {
    method: Option<String>,
    remaining: u32,
    fault: Fault,
}

#[derive(Default)]
struct Data {
    calls: Vec<Call>,
    uploads: Vec<Upload>,
    files: HashMap<String, StoredFile>,
    messages: BTreeMap<(i64, i64), SentMessage>,
    next_message_id: HashMap<i64, i64>,
    edits: Vec<Edit>,
    answers: Vec<CallbackAnswer>,
    commands: Option<Value>,
    chat_faults: HashMap<i64, Fault>,
    one_shots: VecDeque<OneShot>,
    updates: VecDeque<Value>,
    next_update_id: i64,
    next_file: u64,
    next_callback: u64,
    /// Bumped by each getUpdates: an older poll still waiting gets 409.
    poll_generation: u64,
    upload_limit: u64,
    valid_token: Option<String>,
    webhook_url: String,
}

struct Inner {
    data: Mutex<Data>,
    new_update: tokio::sync::watch::Sender<u64>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake server. Dropping it stops the server.
pub struct FakeTelegram {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram").field("addr", &self.addr).finish()
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

impl FakeTelegram {
    /// Starts a server (on its own thread and runtime) from async code.
    pub async fn start() -> FakeTelegram {
        Self::start_blocking()
    }

    /// Starts a server (on its own thread and runtime) from sync code.
    pub fn start_blocking() -> FakeTelegram {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        std_listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = std_listener.local_addr().expect("local addr");
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let inner = Arc::new(Inner {
            data: Mutex::new(Data { next_update_id: 1, upload_limit: DEFAULT_UPLOAD_LIMIT, ..Data::default() }),
            new_update: tx,
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let state = inner.clone();
        std::thread::Builder::new()
            .name("fake-telegram".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake telegram runtime");
                rt.block_on(async move {
                    let listener = KillableListener(TcpListener::from_std(std_listener).expect("tokio listener"));
                    let app = Router::new()
                        .fallback(handle)
                        .layer(DefaultBodyLimit::disable())
                        .with_state(state)
                        .into_make_service_with_connect_info::<ConnKill>();
                    tokio::select! {
                        r = axum::serve(listener, app) => { if let Err(e) = r { eprintln!("fake telegram: {e}"); } }
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime here cancels long polls still waiting.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .expect("spawn fake telegram thread");
        FakeTelegram { inner, addr, stop: Some(stop_tx) }
    }

    /// `http://127.0.0.1:PORT`: set it as `telegram.api_url`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    // ---- configuration and faults -----------------------------------------

    /// Only this token is accepted; others get 401 "Unauthorized". By
    /// default any token is.
    pub fn require_token(&self, token: &str) {
        self.inner.lock().valid_token = Some(token.to_string());
    }

    /// Uploads above `bytes` get 413 "Request Entity Too Large".
    pub fn set_upload_limit(&self, bytes: u64) {
        self.inner.lock().upload_limit = bytes;
    }

    /// Pretends a webhook is set, so a polling client must delete it first.
    pub fn set_webhook(&self, url: &str) {
        self.inner.lock().webhook_url = url.to_string();
    }

    /// Every call naming `chat` fails with `fault` until [`Self::clear_chat`].
    pub fn fail_chat(&self, chat: i64, fault: Fault) {
        self.inner.lock().chat_faults.insert(chat, fault);
    }

    /// Removes a chat's fault.
    pub fn clear_chat(&self, chat: i64) {
        self.inner.lock().chat_faults.remove(&chat);
    }

    /// The next `k` calls of any method except `getUpdates` fail with `fault`.
    pub fn fail_next(&self, k: u32, fault: Fault) {
        self.inner.lock().one_shots.push_back(OneShot { method: None, remaining: k, fault });
    }

    /// The next `k` calls of `method` (any case) fail with `fault`.
    pub fn fail_next_method(&self, method: &str, k: u32, fault: Fault) {
        self.inner.lock().one_shots.push_back(OneShot { method: Some(canonical(method)), remaining: k, fault });
    }

    // ---- injecting updates ----------------------------------------------------

    /// A private text message from user `from` (e.g. `/admin`); returns its update_id.
    pub fn send_text(&self, from: i64, text: &str) -> i64 {
        self.send_text_in(from, from, text)
    }

    /// A text message from user `from` in chat `chat` (negative: a group);
    /// returns its update_id.
    pub fn send_text_in(&self, from: i64, chat: i64, text: &str) -> i64 {
        let mut d = self.inner.lock();
        let message_id = next_message_id(&mut d, chat);
        let mut msg = json!({
            "message_id": message_id,
            "date": now_unix(),
            "chat": chat_obj(chat),
            "from": user(from),
            "text": text,
        });
        if text.starts_with('/') {
            let len = text.split_whitespace().next().map(|c| c.encode_utf16().count()).unwrap_or(0);
            msg["entities"] = json!([{"type": "bot_command", "offset": 0, "length": len}]);
        }
        self.push_update(d, json!({ "message": msg }))
    }

    /// A press of an inline button with `data` (any data: forged ones too) by
    /// user `from` on message `message_id` of chat `from`. The message is the
    /// one the bot sent when known. Returns the callback query's id.
    pub fn press_button(&self, from: i64, message_id: i64, data: &str) -> String {
        self.press_button_in(from, from, message_id, data)
    }

    /// Like [`Self::press_button`], for a message in chat `chat`.
    pub fn press_button_in(&self, from: i64, chat: i64, message_id: i64, data: &str) -> String {
        let mut d = self.inner.lock();
        d.next_callback += 1;
        let id = format!("cbq{}", d.next_callback);
        let message = d.messages.get(&(chat, message_id)).map(|m| m.raw.clone()).unwrap_or_else(|| {
            json!({
                "message_id": message_id,
                "date": now_unix(),
                "chat": chat_obj(chat),
                "from": bot_user(),
                "text": "menu",
            })
        });
        let update = json!({
            "callback_query": {
                "id": id,
                "from": user(from),
                "message": message,
                "chat_instance": format!("ci{chat}"),
                "data": data,
            }
        });
        self.push_update(d, update);
        id
    }

    /// Queues any update object (without `update_id`, which is assigned).
    pub fn push_raw_update(&self, update: Value) -> i64 {
        let d = self.inner.lock();
        self.push_update(d, update)
    }

    fn push_update(&self, mut d: MutexGuard<'_, Data>, mut update: Value) -> i64 {
        let id = d.next_update_id;
        d.next_update_id += 1;
        update["update_id"] = json!(id);
        d.updates.push_back(update);
        drop(d);
        self.inner.new_update.send_modify(|n| *n += 1);
        id
    }

    /// Updates not yet confirmed by a `getUpdates` offset.
    pub fn pending_updates(&self) -> usize {
        self.inner.lock().updates.len()
    }

    // ---- assertions ---------------------------------------------------------------

    /// Every call, in order.
    pub fn all_calls(&self) -> Vec<Call> {
        self.inner.lock().calls.clone()
    }

    /// Calls of `method` (any case), in order.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        let m = canonical(method);
        self.inner.lock().calls.iter().filter(|c| c.method == m).cloned().collect()
    }

    /// Calls naming `chat`, in order.
    pub fn calls_for_chat(&self, chat: i64) -> Vec<Call> {
        self.inner.lock().calls.iter().filter(|c| c.chat_id == Some(chat)).cloned().collect()
    }

    /// Files uploaded successfully, in order.
    pub fn uploads(&self) -> Vec<Upload> {
        self.inner.lock().uploads.clone()
    }

    /// Messages the bot sent to `chat` (texts and documents), in order.
    pub fn sent_messages(&self, chat: i64) -> Vec<SentMessage> {
        self.inner.lock().messages.range((chat, i64::MIN)..=(chat, i64::MAX)).map(|(_, m)| m.clone()).collect()
    }

    /// One message by id.
    pub fn message(&self, chat: i64, message_id: i64) -> Option<SentMessage> {
        self.inner.lock().messages.get(&(chat, message_id)).cloned()
    }

    /// Documents the bot delivered to `chat`, in order.
    pub fn documents(&self, chat: i64) -> Vec<SentMessage> {
        self.sent_messages(chat).into_iter().filter(|m| m.file_id.is_some()).collect()
    }

    /// Documents `chat` received, uploaded or sent by `file_id` alike, with
    /// their bytes, in order. (Use [`Self::uploads`] to count uploads.)
    pub fn received_files(&self, chat: i64) -> Vec<Upload> {
        let d = self.inner.lock();
        d.messages
            .range((chat, i64::MIN)..=(chat, i64::MAX))
            .filter_map(|(_, m)| {
                let file_id = m.file_id.clone()?;
                let f = d.files.get(&file_id)?;
                Some(Upload {
                    chat_id: chat,
                    file_name: f.file_name.clone(),
                    bytes: f.bytes.as_ref().clone(),
                    caption: m.caption.clone(),
                    file_id,
                    message_id: m.message_id,
                })
            })
            .collect()
    }

    /// The bytes behind a `file_id`.
    pub fn file_bytes(&self, file_id: &str) -> Option<Vec<u8>> {
        self.inner.lock().files.get(file_id).map(|f| f.bytes.as_ref().clone())
    }

    /// Successful edits, in order.
    pub fn edits(&self) -> Vec<Edit> {
        self.inner.lock().edits.clone()
    }

    /// Callback answers, in order.
    pub fn callback_answers(&self) -> Vec<CallbackAnswer> {
        self.inner.lock().answers.clone()
    }

    /// The last `setMyCommands` list.
    pub fn commands(&self) -> Option<Value> {
        self.inner.lock().commands.clone()
    }

    /// Waits (polling, up to `timeout`) until `pred` holds; returns whether it did.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&FakeTelegram) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if pred(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

// ---- the connection that can be dropped ----------------------------------------

struct KillableListener(TcpListener);

/// A TCP stream whose writes fail once its flag is set, so hyper closes the
/// connection without writing a response.
struct KillableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((s, a)) => {
                    let _ = s.set_nodelay(true);
                    return (KillableStream { inner: s, kill: Arc::new(AtomicBool::new(false)) }, a);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

fn killed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "fake telegram dropped the connection")
}

impl AsyncRead for KillableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if self.kill.load(Ordering::SeqCst) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[derive(Clone)]
struct ConnKill(Arc<AtomicBool>);

impl Connected<IncomingStream<'_, KillableListener>> for ConnKill {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        ConnKill(stream.io().kill.clone())
    }
}

// ---- request handling ---------------------------------------------------------------

const METHODS: &[&str] = &[
    "getMe",
    "getWebhookInfo",
    "deleteWebhook",
    "setWebhook",
    "getUpdates",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "answerCallbackQuery",
    "setMyCommands",
    "getMyCommands",
    "deleteMyCommands",
    "sendDocument",
    "getFile",
    "deleteMessage",
    "sendChatAction",
    "close",
    "logOut",
];

fn canonical(method: &str) -> String {
    METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map(|m| m.to_string())
        .unwrap_or_else(|| method.to_ascii_lowercase())
}

fn user(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}"), "username": format!("user{id}"), "language_code": "en"})
}

fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Lifeboat Test", "username": BOT_USERNAME})
}

fn private_chat(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": format!("User{id}"), "username": format!("user{id}")})
}

fn chat_obj(id: i64) -> Value {
    if id > 0 {
        private_chat(id)
    } else if id < -1_000_000_000_000 {
        json!({"id": id, "type": "supergroup", "title": format!("Group {id}")})
    } else {
        json!({"id": id, "type": "group", "title": format!("Group {id}")})
    }
}

fn next_message_id(d: &mut Data, chat: i64) -> i64 {
    let n = d.next_message_id.entry(chat).or_insert(0);
    *n += 1;
    *n
}

fn ok(result: Value) -> Response {
    (StatusCode::OK, axum::Json(json!({"ok": true, "result": result}))).into_response()
}

/// Telegram's error body; `parameters` only when it has something.
fn api_error(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters.filter(|p| p.as_object().is_some_and(|o| !o.is_empty())) {
        body["parameters"] = p;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

fn fault_response(fault: &Fault, path: &str) -> Response {
    match fault {
        Fault::NeverStarted => api_error(403, "Forbidden: bot can't initiate conversation with a user", None),
        Fault::Blocked => api_error(403, "Forbidden: bot was blocked by the user", None),
        Fault::Kicked => api_error(403, "Forbidden: bot was kicked from the group chat", None),
        Fault::ChatNotFound => api_error(400, "Bad Request: chat not found", None),
        Fault::MigratedTo(to) => api_error(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            Some(json!({"migrate_to_chat_id": to})),
        ),
        Fault::TooManyRequests { retry_after } => api_error(
            429,
            &format!("Too Many Requests: retry after {retry_after}"),
            Some(json!({"retry_after": retry_after})),
        ),
        Fault::ServerError { status } => {
            let description = match status {
                502 => "Bad Gateway",
                503 => "Service Unavailable",
                504 => "Gateway Timeout",
                _ => "Internal Server Error",
            };
            api_error(*status, description, None)
        }
        Fault::ServerErrorHtml { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY);
            let html = format!(
                "<html>\r\n<head><title>{s}</title></head>\r\n<body>\r\n<center><h1>{s}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
                s = status
            );
            (status, [(header::CONTENT_TYPE, "text/html")], html).into_response()
        }
        Fault::TooLarge => api_error(413, "Request Entity Too Large", None),
        Fault::Unauthorized => api_error(401, "Unauthorized", None),
        Fault::DropConnection => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Fault::EchoPath { padding, html: false } => {
            let body = format!("{}upstream error while proxying POST {path}", "-".repeat(*padding));
            (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
        }
        Fault::EchoPath { padding, html: true } => {
            let body = format!(
                "<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>{}<h1>Not Found</h1>\
                 <p>The requested URL {path} was not found on this server.</p></body></html>",
                " ".repeat(*padding)
            );
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html")], body).into_response()
        }
    }
}

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn as_bool(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

/// Multipart text fields hold JSON for objects (`reply_markup`): parse them.
fn as_json(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

struct FilePart {
    name: String,
    file_name: String,
    bytes: Vec<u8>,
}

struct Parsed {
    params: Map<String, Value>,
    files: Vec<FilePart>,
    body_size: u64,
}

async fn parse_request(req: Request) -> Result<Parsed, String> {
    let mut params = Map::new();
    if let Some(q) = req.uri().query() {
        for (k, v) in form_urlencoded(q) {
            params.insert(k, Value::String(v));
        }
    }
    let ctype = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut files = Vec::new();
    let mut body_size = 0u64;
    if ctype.starts_with("multipart/form-data") {
        let mut mp = Multipart::from_request(req, &()).await.map_err(|e| e.to_string())?;
        while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
            let name = field.name().unwrap_or("").to_string();
            let file_name = field.file_name().map(str::to_string);
            let bytes = field.bytes().await.map_err(|e| e.to_string())?;
            body_size += bytes.len() as u64;
            match file_name {
                Some(file_name) => files.push(FilePart { name, file_name, bytes: bytes.to_vec() }),
                None => {
                    params.insert(name, Value::String(String::from_utf8_lossy(&bytes).into_owned()));
                }
            }
        }
    } else {
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.map_err(|e| e.to_string())?;
        body_size = bytes.len() as u64;
        if ctype.starts_with("application/json") && !bytes.is_empty() {
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("invalid JSON: {e}"))?;
            if let Value::Object(o) = v {
                params.extend(o);
            }
        } else if ctype.starts_with("application/x-www-form-urlencoded") {
            for (k, v) in form_urlencoded(&String::from_utf8_lossy(&bytes)) {
                params.insert(k, Value::String(v));
            }
        }
    }
    Ok(Parsed { params, files, body_size })
}

fn form_urlencoded(s: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                },
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

async fn handle(State(inner): State<Arc<Inner>>, ConnectInfo(kill): ConnectInfo<ConnKill>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let at = Instant::now();
    if let Some(rest) = path.strip_prefix("/file/bot") {
        let Some((token, file_path)) = rest.split_once('/') else {
            return api_error(404, "Not Found", None);
        };
        return download(&inner, token, file_path);
    }
    let Some(rest) = path.strip_prefix("/bot") else {
        return api_error(404, "Not Found", None);
    };
    let Some((token, method)) = rest.split_once('/') else {
        return api_error(404, "Not Found", None);
    };
    let token = token.to_string();
    let method = canonical(method);
    let parsed = match parse_request(req).await {
        Ok(p) => p,
        Err(e) => return api_error(400, &format!("Bad Request: {e}"), None),
    };
    let chat_id = as_i64(parsed.params.get("chat_id"));
    let upload_size: u64 = parsed.files.iter().map(|f| f.bytes.len() as u64).sum();
    let mut call = Call {
        method: method.clone(),
        chat_id,
        at,
        upload: !parsed.files.is_empty(),
        upload_size,
        body_size: parsed.body_size,
        status: 200,
        params: Value::Object(parsed.params.clone()),
    };

    let fault = {
        let mut d = inner.lock();
        let mut fault = None;
        if d.valid_token.as_ref().is_some_and(|t| *t != token) {
            fault = Some(Fault::Unauthorized);
        }
        if fault.is_none() && method != "getUpdates" {
            let pos = d.one_shots.iter().position(|s| s.method.as_ref().is_none_or(|m| *m == method));
            if let Some(pos) = pos {
                let shot = &mut d.one_shots[pos];
                shot.remaining = shot.remaining.saturating_sub(1);
                fault = Some(shot.fault.clone());
                if shot.remaining == 0 {
                    d.one_shots.remove(pos);
                }
            }
        }
        if fault.is_none()
            && let Some(chat) = chat_id
        {
            fault = d.chat_faults.get(&chat).cloned();
        }
        if fault.is_none() && upload_size > d.upload_limit {
            fault = Some(Fault::TooLarge);
        }
        fault
    };
    if let Some(fault) = fault {
        if fault == Fault::DropConnection {
            kill.0.store(true, Ordering::SeqCst);
            call.status = 0;
        } else {
            call.status = fault_response(&fault, &path).status().as_u16();
        }
        inner.lock().calls.push(call);
        return fault_response(&fault, &path);
    }

    let response = if method == "getUpdates" {
        get_updates(&inner, &parsed.params).await
    } else {
        dispatch(&inner, &method, &parsed, chat_id)
    };
    call.status = response.status().as_u16();
    inner.lock().calls.push(call);
    response
}

fn download(inner: &Inner, token: &str, file_path: &str) -> Response {
    let d = inner.lock();
    if d.valid_token.as_ref().is_some_and(|t| t != token) {
        return api_error(401, "Unauthorized", None);
    }
    let file_id = file_path.rsplit('/').next().unwrap_or("");
    match d.files.get(file_id) {
        Some(f) => (StatusCode::OK, Body::from(f.bytes.as_ref().clone())).into_response(),
        None => api_error(404, "Not Found", None),
    }
}

async fn get_updates(inner: &Inner, params: &Map<String, Value>) -> Response {
    let offset = as_i64(params.get("offset")).unwrap_or(0);
    let timeout = as_i64(params.get("timeout")).unwrap_or(0).clamp(0, 50) as u64;
    let limit = as_i64(params.get("limit")).unwrap_or(100).clamp(1, 100) as usize;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut rx = inner.new_update.subscribe();
    let generation = {
        let mut d = inner.lock();
        d.poll_generation += 1;
        d.poll_generation
    };
    // Wake an older poll so it can see it was superseded.
    inner.new_update.send_modify(|_| {});
    loop {
        rx.borrow_and_update();
        {
            let mut d = inner.lock();
            if d.poll_generation != generation {
                return api_error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                    None,
                );
            }
            if offset < 0 {
                // Telegram: a negative offset returns the last |offset| updates
                // and forgets all earlier ones.
                let keep = offset.unsigned_abs() as usize;
                while d.updates.len() > keep {
                    d.updates.pop_front();
                }
            } else {
                while d.updates.front().and_then(|u| u["update_id"].as_i64()).is_some_and(|id| id < offset) {
                    d.updates.pop_front();
                }
            }
            if !d.updates.is_empty() {
                let out: Vec<Value> = d.updates.iter().take(limit).cloned().collect();
                return ok(Value::Array(out));
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return ok(json!([]));
        }
        if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
            return ok(json!([]));
        }
    }
}

fn dispatch(inner: &Inner, method: &str, parsed: &Parsed, chat_id: Option<i64>) -> Response {
    let p = &parsed.params;
    let mut d = inner.lock();
    match method {
        "getMe" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Lifeboat Test", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false,
        })),
        "getWebhookInfo" => {
            let mut info =
                json!({"url": d.webhook_url, "has_custom_certificate": false, "pending_update_count": d.updates.len()});
            if d.webhook_url.is_empty() {
                info["url"] = json!("");
            }
            ok(info)
        }
        "deleteWebhook" => {
            d.webhook_url.clear();
            if as_bool(p.get("drop_pending_updates")) {
                d.updates.clear();
            }
            ok(json!(true))
        }
        "setWebhook" => {
            d.webhook_url = as_str(p.get("url")).unwrap_or_default();
            ok(json!(true))
        }
        "setMyCommands" => {
            d.commands = as_json(p.get("commands"));
            ok(json!(true))
        }
        "getMyCommands" => ok(d.commands.clone().unwrap_or(json!([]))),
        "deleteMyCommands" => {
            d.commands = None;
            ok(json!(true))
        }
        "close" | "logOut" | "sendChatAction" => ok(json!(true)),
        "answerCallbackQuery" => {
            let Some(id) = as_str(p.get("callback_query_id")) else {
                return api_error(400, "Bad Request: parameter \"callback_query_id\" is required", None);
            };
            d.answers.push(CallbackAnswer {
                callback_query_id: id,
                text: as_str(p.get("text")),
                show_alert: as_bool(p.get("show_alert")),
            });
            ok(json!(true))
        }
        "sendMessage" => {
            let Some(chat) = chat_id else { return api_error(400, "Bad Request: chat_id is empty", None) };
            let Some(text) = as_str(p.get("text")).filter(|t| !t.is_empty()) else {
                return api_error(400, "Bad Request: message text is empty", None);
            };
            if text.chars().count() > 4096 {
                return api_error(400, "Bad Request: message is too long", None);
            }
            let markup = as_json(p.get("reply_markup"));
            let message_id = next_message_id(&mut d, chat);
            let mut raw = json!({
                "message_id": message_id, "date": now_unix(), "chat": chat_obj(chat), "from": bot_user(), "text": text,
            });
            if let Some(m) = &markup {
                raw["reply_markup"] = m.clone();
            }
            d.messages.insert(
                (chat, message_id),
                SentMessage {
                    chat_id: chat,
                    message_id,
                    method: "sendMessage".into(),
                    text: Some(text),
                    caption: None,
                    file_id: None,
                    file_name: None,
                    by_file_id: false,
                    reply_markup: markup,
                    raw: raw.clone(),
                },
            );
            ok(raw)
        }
        "editMessageText" | "editMessageReplyMarkup" => {
            let Some(chat) = chat_id else {
                return api_error(400, "Bad Request: chat_id is empty", None);
            };
            let Some(message_id) = as_i64(p.get("message_id")) else {
                return api_error(400, "Bad Request: message identifier is not specified", None);
            };
            let text = if method == "editMessageText" {
                match as_str(p.get("text")).filter(|t| !t.is_empty()) {
                    Some(t) if t.chars().count() > 4096 => {
                        return api_error(400, "Bad Request: MESSAGE_TOO_LONG", None);
                    }
                    Some(t) => Some(t),
                    None => return api_error(400, "Bad Request: message text is empty", None),
                }
            } else {
                None
            };
            let markup = as_json(p.get("reply_markup"));
            let Some(msg) = d.messages.get_mut(&(chat, message_id)) else {
                return api_error(400, "Bad Request: message to edit not found", None);
            };
            let new_text = text.clone().or_else(|| msg.text.clone());
            if new_text == msg.text && markup == msg.reply_markup {
                return api_error(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                    None,
                );
            }
            msg.text = new_text.clone();
            msg.reply_markup = markup.clone();
            if let Some(t) = &new_text {
                msg.raw["text"] = json!(t);
            }
            match &markup {
                Some(m) => msg.raw["reply_markup"] = m.clone(),
                None => {
                    if let Some(o) = msg.raw.as_object_mut() {
                        o.remove("reply_markup");
                    }
                }
            }
            msg.raw["edit_date"] = json!(now_unix());
            let raw = msg.raw.clone();
            d.edits.push(Edit { chat_id: chat, message_id, text, reply_markup: markup });
            ok(raw)
        }
        "deleteMessage" => {
            let (Some(chat), Some(mid)) = (chat_id, as_i64(p.get("message_id"))) else {
                return api_error(400, "Bad Request: message to delete not found", None);
            };
            match d.messages.remove(&(chat, mid)) {
                Some(_) => ok(json!(true)),
                None => api_error(400, "Bad Request: message to delete not found", None),
            }
        }
        "sendDocument" => send_document(&mut d, parsed, chat_id),
        "getFile" => {
            let Some(file_id) = as_str(p.get("file_id")) else {
                return api_error(400, "Bad Request: file_id is empty", None);
            };
            match d.files.get(&file_id) {
                Some(f) if f.bytes.len() as u64 > DOWNLOAD_LIMIT => {
                    api_error(400, "Bad Request: file is too big", None)
                }
                Some(f) => ok(json!({
                    "file_id": file_id, "file_unique_id": f.unique_id, "file_size": f.bytes.len(),
                    "file_path": format!("documents/{file_id}"),
                })),
                None => api_error(400, "Bad Request: invalid file_id", None),
            }
        }
        _ => api_error(404, "Not Found: method not found", None),
    }
}

fn send_document(d: &mut Data, parsed: &Parsed, chat_id: Option<i64>) -> Response {
    let p = &parsed.params;
    let Some(chat) = chat_id else { return api_error(400, "Bad Request: chat_id is empty", None) };
    let caption = as_str(p.get("caption"));
    if caption.as_ref().is_some_and(|c| c.chars().count() > 1024) {
        return api_error(400, "Bad Request: message caption is too long", None);
    }
    let doc_ref = as_str(p.get("document"));
    // teloxide sends `document=attach://<id>` and the file as part `<id>`;
    // other clients send the file as the `document` part itself.
    let part = match doc_ref.as_deref().and_then(|r| r.strip_prefix("attach://")) {
        Some(name) => parsed.files.iter().find(|f| f.name == name),
        None => parsed.files.iter().find(|f| f.name == "document"),
    };
    let (file_id, by_file_id) = match (part, &doc_ref) {
        (Some(part), _) => {
            if part.bytes.is_empty() {
                return api_error(400, "Bad Request: file must be non-empty", None);
            }
            d.next_file += 1;
            let file_id = format!("BQACAgIAAxkDAAI{:06}_fake_document_file_id", d.next_file);
            d.files.insert(
                file_id.clone(),
                StoredFile {
                    file_name: part.file_name.clone(),
                    bytes: Arc::new(part.bytes.clone()),
                    unique_id: format!("AgAD{:06}", d.next_file),
                },
            );
            (file_id, false)
        }
        (None, Some(r)) if !r.starts_with("attach://") && d.files.contains_key(r) => (r.clone(), true),
        (None, Some(r)) if r.starts_with("http://") || r.starts_with("https://") => {
            return api_error(400, "Bad Request: failed to get HTTP URL content", None);
        }
        (None, Some(_)) => {
            return api_error(400, "Bad Request: wrong file identifier/HTTP URL specified", None);
        }
        (None, None) => return api_error(400, "Bad Request: there is no document in the request", None),
    };
    let (file_name, size, unique_id) = {
        let f = &d.files[&file_id];
        (f.file_name.clone(), f.bytes.len() as u64, f.unique_id.clone())
    };
    let message_id = next_message_id(d, chat);
    let mut raw = json!({
        "message_id": message_id, "date": now_unix(), "chat": chat_obj(chat), "from": bot_user(),
        "document": {
            "file_id": file_id, "file_unique_id": unique_id, "file_name": file_name,
            "mime_type": "application/zip", "file_size": size,
        },
    });
    if let Some(c) = &caption {
        raw["caption"] = json!(c);
    }
    let markup = as_json(p.get("reply_markup"));
    if let Some(m) = &markup {
        raw["reply_markup"] = m.clone();
    }
    if !by_file_id && let Some(part) = part {
        d.uploads.push(Upload {
            chat_id: chat,
            file_name: file_name.clone(),
            bytes: part.bytes.clone(),
            caption: caption.clone(),
            file_id: file_id.clone(),
            message_id,
        });
    }
    d.messages.insert(
        (chat, message_id),
        SentMessage {
            chat_id: chat,
            message_id,
            method: "sendDocument".into(),
            text: None,
            caption,
            file_id: Some(file_id),
            file_name: Some(file_name),
            by_file_id,
            reply_markup: markup,
            raw: raw.clone(),
        },
    );
    ok(raw)
}
