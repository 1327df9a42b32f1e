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

mod listener;
mod server;
mod types;
mod wire;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use listener::{ConnKill, KillableListener};
use serde_json::{Value, json};
use server::handle;
use tokio::net::TcpListener;
use wire::{bot_user, canonical, chat_obj, next_message_id, user};

pub use types::{
    ANSWER_DEADLINE, BOT_ID, BOT_USERNAME, Call, CallbackAnswer, DEFAULT_UPLOAD_LIMIT, DOWNLOAD_LIMIT, Edit, Fault,
    SentMessage, Upload,
};

pub(super) struct StoredFile {
    pub(super) file_name: String,
    pub(super) bytes: Arc<Vec<u8>>,
    pub(super) unique_id: String,
}

pub(super) struct OneShot {
    pub(super) method: Option<String>,
    /// Calls let through before the fault starts.
    pub(super) pass: u32,
    pub(super) remaining: u32,
    pub(super) fault: Fault,
}

#[derive(Default)]
pub(super) struct Data {
    pub(super) calls: Vec<Call>,
    pub(super) uploads: Vec<Upload>,
    pub(super) files: HashMap<String, StoredFile>,
    pub(super) messages: BTreeMap<(i64, i64), SentMessage>,
    pub(super) next_message_id: HashMap<i64, i64>,
    pub(super) edits: Vec<Edit>,
    pub(super) answers: Vec<CallbackAnswer>,
    /// Command lists by scope: None is the default scope, Some(chat) one chat's.
    pub(super) commands: HashMap<Option<i64>, Value>,
    pub(super) chat_faults: HashMap<i64, Fault>,
    pub(super) one_shots: VecDeque<OneShot>,
    pub(super) updates: VecDeque<Value>,
    pub(super) next_update_id: i64,
    pub(super) next_file: u64,
    pub(super) next_callback: u64,
    /// Bumped by each getUpdates: an older poll still waiting gets 409.
    pub(super) poll_generation: u64,
    pub(super) upload_limit: u64,
    pub(super) valid_token: Option<String>,
    pub(super) webhook_url: String,
    /// When each callback query was sent to the bot, by id.
    pub(super) pressed_at: HashMap<String, Instant>,
    /// How long a callback query can be answered (Telegram: seconds).
    pub(super) answer_deadline: Duration,
    /// Each upload takes at least this long, as a big file on a slow link.
    pub(super) upload_delay: Duration,
}

pub(super) struct Inner {
    pub(super) data: Mutex<Data>,
    pub(super) new_update: tokio::sync::watch::Sender<u64>,
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
            data: Mutex::new(Data {
                next_update_id: 1,
                upload_limit: DEFAULT_UPLOAD_LIMIT,
                answer_deadline: ANSWER_DEADLINE,
                ..Data::default()
            }),
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

    // Configuration and faults.

    /// Only this token is accepted; others get 401 "Unauthorized". By
    /// default any token is.
    pub fn require_token(&self, token: &str) {
        self.inner.lock().valid_token = Some(token.to_string());
    }

    /// Uploads above `bytes` get 413 "Request Entity Too Large".
    pub fn set_upload_limit(&self, bytes: u64) {
        self.inner.lock().upload_limit = bytes;
    }

    /// A callback query answered later than `deadline` after the press gets
    /// Telegram's 400 "query is too old" (the default is 10 s).
    pub fn set_answer_deadline(&self, deadline: Duration) {
        self.inner.lock().answer_deadline = deadline;
    }

    /// Every upload (a `sendDocument` with a file) takes at least `delay`.
    pub fn set_upload_delay(&self, delay: Duration) {
        self.inner.lock().upload_delay = delay;
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
        self.inner.lock().one_shots.push_back(OneShot { method: None, pass: 0, remaining: k, fault });
    }

    /// The next `k` calls of `method` (any case) fail with `fault`.
    pub fn fail_next_method(&self, method: &str, k: u32, fault: Fault) {
        self.fail_method_after(method, 0, k, fault);
    }

    /// The next `pass` calls of `method` (any case) go through, then `k`
    /// fail with `fault`: a failure in the middle of a split archive.
    pub fn fail_method_after(&self, method: &str, pass: u32, k: u32, fault: Fault) {
        let shot = OneShot { method: Some(canonical(method)), pass, remaining: k, fault };
        self.inner.lock().one_shots.push_back(shot);
    }

    // Injecting updates.

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
        d.pressed_at.insert(id.clone(), Instant::now());
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

    // Assertions.

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

    /// The command list of the default scope (what every user sees).
    pub fn commands(&self) -> Option<Value> {
        self.inner.lock().commands.get(&None).cloned()
    }

    /// The command list set for one chat (`BotCommandScope::Chat`).
    pub fn commands_for(&self, chat: i64) -> Option<Value> {
        self.inner.lock().commands.get(&Some(chat)).cloned()
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

// The connection that can be dropped.
