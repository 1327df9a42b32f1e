//! A fake Discord for a bot, on 127.0.0.1:0: the gateway over a websocket
//! (hello, identify, ready, heartbeat and its ack, resume, dispatched
//! `INTERACTION_CREATE` events, a connection dropped on purpose) and the
//! REST endpoints a slash-command bot uses under `/api/v10` (the gateway
//! URL, registering application commands, the interaction callback, editing
//! the original response, follow-ups, opening a DM and posting to it).
//!
//! Every REST request is recorded. Faults are served instead of the next
//! requests: a 429 with `retry_after` (per route or global) or a 5xx. An
//! interaction answers as Discord's does: its callback is refused after
//! [`ACK_DEADLINE`], and its token after [`TOKEN_VALID_FOR`].
//!
//! The fake webhook is [`crate::fake_discord`].
//!
//! Here the test's handle and the shared state; `gateway` the websocket
//! session; `rest` the REST endpoints.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::mpsc;

mod gateway;
mod rest;

use gateway::{dispatch, gateway};
use rest::rest;

/// A bot token of the right shape (what `discord.token_file` holds in tests).
pub const TOKEN: &str = "MTE4NzAwMDAwMDAwMDAwMDAwMQ.GfAk3d.fake-bot-signature_0123456789abcdefghij";

/// The application (and bot user) id the fake's READY announces.
pub const APPLICATION_ID: u64 = 1_187_000_000_000_000_001;

/// Discord refuses an interaction callback this long after the interaction.
pub const ACK_DEADLINE: Duration = Duration::from_secs(3);

/// An interaction token (edits, follow-ups) is valid this long.
pub const TOKEN_VALID_FOR: Duration = Duration::from_secs(15 * 60);

/// A fault served instead of the next REST request.
#[derive(Debug, Clone, PartialEq)]
pub enum BotFault {
    /// 429 with this `retry_after` in seconds; `global`: the bot's global
    /// limit (`X-RateLimit-Global`, scope "global"), else the route's.
    RateLimited { retry_after: f64, global: bool },
    /// This 5xx status with Cloudflare's HTML page.
    Server(u16),
}

/// One REST request the fake received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path after `/api/v10`, e.g. `/interactions/1/tok/callback`.
    pub path: String,
    /// The JSON body (Null when none).
    pub body: Value,
    /// The `Authorization` header was `Bot <TOKEN>`.
    pub authorized: bool,
}

/// What the bot said in answer to one interaction, in order.
#[derive(Debug, Clone)]
pub struct Reply {
    /// "callback" (with `kind`, the response type), "edit" (the original
    /// response edited) or "followup".
    pub how: &'static str,
    /// The callback's type (4 message, 5 deferred, 6 deferred update, 7
    /// update message); 0 for edits and follow-ups.
    pub kind: u64,
    /// The message data sent (content, flags, components).
    pub data: Value,
}

impl Reply {
    /// The message text.
    pub fn content(&self) -> &str {
        self.data.get("content").and_then(Value::as_str).unwrap_or_default()
    }

    /// Flag 64: only the user who asked sees it.
    pub fn ephemeral(&self) -> bool {
        self.data.get("flags").and_then(Value::as_u64).is_some_and(|f| f & 64 != 0)
    }

    /// The `custom_id` of every button, in order.
    pub fn buttons(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in self.data.get("components").and_then(Value::as_array).into_iter().flatten() {
            for c in row.get("components").and_then(Value::as_array).into_iter().flatten() {
                if let Some(id) = c.get("custom_id").and_then(Value::as_str) {
                    out.push(id.to_string());
                }
            }
        }
        out
    }
}

/// A direct message the bot sent.
#[derive(Debug, Clone)]
pub struct DirectMessage {
    pub recipient: u64,
    pub content: String,
}

struct Interaction {
    created: Instant,
    acked: bool,
    replies: Vec<Reply>,
}

enum Outgoing {
    Text(String),
    /// Close the TCP connection without a close frame.
    Drop,
}

#[derive(Default)]
struct Shared {
    addr: Mutex<String>,
    requests: Mutex<Vec<Request>>,
    faults: Mutex<VecDeque<BotFault>>,
    interactions: Mutex<HashMap<String, Interaction>>,
    dm_channels: Mutex<HashMap<u64, u64>>,
    dms: Mutex<Vec<DirectMessage>>,
    gateway: Mutex<Gateway>,
    next_id: Mutex<u64>,
    /// Added to every interaction's age (a late acknowledgement, an expired token).
    age_offset: Mutex<Duration>,
}

#[derive(Default)]
struct Gateway {
    conn: Option<mpsc::UnboundedSender<Outgoing>>,
    /// The session is live (READY or RESUMED sent on this connection).
    live: bool,
    session_id: Option<String>,
    seq: u64,
    /// Events dispatched while no session was live, sent after the next
    /// READY or RESUMED.
    backlog: VecDeque<Value>,
    identifies: u32,
    resumes: u32,
    heartbeats: u32,
    connections: u32,
}

/// The running server; dropping it stops it.
pub struct FakeDiscordBot {
    server: crate::background::Background,
    shared: Arc<Shared>,
}

/// The heartbeat interval the HELLO announces, in milliseconds: short, so
/// tests see heartbeats.
const HEARTBEAT_MS: u64 = 2000;

impl FakeDiscordBot {
    /// Starts the fake on a free loopback port.
    pub fn start() -> FakeDiscordBot {
        let shared = Arc::new(Shared { next_id: Mutex::new(1_300_000_000_000_000_000), ..Default::default() });
        let app = Router::new()
            .route("/gateway", get(gateway))
            .route("/gateway/", get(gateway))
            .route("/api/v10/{*path}", any(rest))
            .with_state(shared.clone());
        let server = crate::background::serve("fake-discord-bot", app);
        *lock(&shared.addr) = server.addr.to_string();
        FakeDiscordBot { server, shared }
    }

    /// What `discord.api_url` is set to.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.server.addr)
    }

    /// The gateway's URL, as `GET /gateway/bot` answers.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.server.addr)
    }

    /// Serves `faults` instead of the next REST requests, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = BotFault>) {
        lock(&self.shared.faults).extend(faults);
    }

    /// Every REST request so far.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// The application commands the bot registered last (PUT
    /// `/applications/{id}/commands`), or Null.
    pub fn commands(&self) -> Value {
        self.requests()
            .into_iter()
            .rev()
            .find(|r| r.method == "PUT" && r.path.ends_with("/commands"))
            .map_or(Value::Null, |r| r.body)
    }

    /// Identifies, resumes, heartbeats and connections seen so far.
    pub fn gateway_counts(&self) -> (u32, u32, u32, u32) {
        let g = lock(&self.shared.gateway);
        (g.identifies, g.resumes, g.heartbeats, g.connections)
    }

    /// Whether a session is live (the bot identified or resumed and the
    /// connection is open).
    pub fn ready(&self) -> bool {
        let g = lock(&self.shared.gateway);
        g.live && g.conn.is_some()
    }

    /// Waits until a session is live; false after `timeout`.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        wait_for(timeout, || self.ready())
    }

    /// Drops the gateway connection without a close frame, as a network
    /// failure does; the bot should resume the session.
    pub fn drop_gateway(&self) {
        let mut g = lock(&self.shared.gateway);
        if let Some(conn) = g.conn.take() {
            let _ = conn.send(Outgoing::Drop);
        }
        g.live = false;
    }

    /// Ages every interaction (and those made later) by `by`: a late
    /// acknowledgement, or a token past its 15 minutes.
    pub fn age_interactions(&self, by: Duration) {
        *lock(&self.shared.age_offset) += by;
    }

    /// Dispatches a slash command from `user`: `/NAME SUB [option=value…]`
    /// (`sub` "": a command without subcommands, its options its own).
    /// Returns the interaction's token, to read the replies with.
    pub fn slash(&self, user: u64, name: &str, sub: &str, options: &[(&str, &str)]) -> String {
        let opts: Vec<Value> = options.iter().map(|(k, v)| json!({ "name": k, "type": 3, "value": v })).collect();
        let options = if sub.is_empty() { opts } else { vec![json!({ "name": sub, "type": 1, "options": opts })] };
        let data = json!({
            "id": "1187000000000000100",
            "name": name,
            "type": 1,
            "options": options,
        });
        self.interact(user, 2, data)
    }

    /// Dispatches a press on the button `custom_id` from `user`.
    pub fn press(&self, user: u64, custom_id: &str) -> String {
        self.press_after(user, custom_id, Duration::ZERO)
    }

    /// A press whose id (a snowflake, which holds Discord's time of the
    /// interaction) says it happened `later` than now: a press after a
    /// confirmation expired, without waiting for it.
    pub fn press_after(&self, user: u64, custom_id: &str, later: Duration) -> String {
        self.interact_at(user, 3, json!({ "custom_id": custom_id, "component_type": 2 }), later)
    }

    fn interact(&self, user: u64, kind: u64, data: Value) -> String {
        self.interact_at(user, kind, data, Duration::ZERO)
    }

    fn interact_at(&self, user: u64, kind: u64, data: Value, later: Duration) -> String {
        let id = snowflake(std::time::SystemTime::now() + later, self.fresh_id());
        let token = format!("aW50ZXJhY3Rpb246{id}:fake-interaction-token");
        lock(&self.shared.interactions)
            .insert(token.clone(), Interaction { created: Instant::now(), acked: false, replies: Vec::new() });
        let event = json!({
            "id": id.to_string(),
            "application_id": APPLICATION_ID.to_string(),
            "type": kind,
            "data": data,
            "channel_id": "1187000000000000200",
            "context": 1,
            "user": user_json(user),
            "token": token,
            "version": 1,
            "app_permissions": "0",
            "locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": { "1": user.to_string() },
            "attachment_size_limit": 10_485_760,
        });
        dispatch(&self.shared, "INTERACTION_CREATE", event);
        token
    }

    /// What the bot answered to the interaction `token`, in order.
    pub fn replies(&self, token: &str) -> Vec<Reply> {
        lock(&self.shared.interactions).get(token).map(|i| i.replies.clone()).unwrap_or_default()
    }

    /// The newest reply to `token` that `done` accepts, waiting up to
    /// `timeout`.
    pub fn wait_reply(&self, token: &str, timeout: Duration, done: impl Fn(&Reply) -> bool) -> Option<Reply> {
        let mut found = None;
        wait_for(timeout, || {
            found = self.replies(token).into_iter().rev().find(|r| done(r));
            found.is_some()
        });
        found
    }

    /// Every direct message the bot sent.
    pub fn dms(&self) -> Vec<DirectMessage> {
        lock(&self.shared.dms).clone()
    }

    fn fresh_id(&self) -> u64 {
        let mut n = lock(&self.shared.next_id);
        *n += 1;
        *n
    }
}

/// Discord's epoch (2015-01-01), in Unix milliseconds.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A snowflake id for `at`: milliseconds since Discord's epoch, shifted
/// 22 bits, with a counter's low bits below.
fn snowflake(at: std::time::SystemTime, counter: u64) -> u64 {
    let ms = at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    ((ms - DISCORD_EPOCH_MS) << 22) | (counter & 0x3f_ffff)
}

fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn user_json(id: u64) -> Value {
    json!({
        "id": id.to_string(),
        "username": format!("user{}", id % 10_000),
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "public_flags": 0,
    })
}

fn next(shared: &Shared) -> u64 {
    let mut n = lock(&shared.next_id);
    *n += 1;
    *n
}
