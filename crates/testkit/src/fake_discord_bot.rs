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

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use tokio::sync::mpsc;

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

/// Sends a dispatch event on the live session, or keeps it for the next.
fn dispatch(shared: &Shared, name: &str, d: Value) {
    let mut g = lock(&shared.gateway);
    let event = json!({ "t": name, "d": d });
    if g.live
        && let Some(conn) = g.conn.clone()
    {
        send_event(&mut g, &conn, event);
    } else {
        g.backlog.push_back(event);
    }
}

fn send_event(g: &mut Gateway, conn: &mpsc::UnboundedSender<Outgoing>, event: Value) {
    g.seq += 1;
    let frame = json!({ "op": 0, "s": g.seq, "t": event["t"], "d": event["d"] });
    let _ = conn.send(Outgoing::Text(frame.to_string()));
}

async fn gateway(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(socket, shared))
}

/// One gateway connection: HELLO, then the bot's IDENTIFY or RESUME,
/// heartbeats acked, and what the test dispatches.
async fn session(mut socket: WebSocket, shared: Arc<Shared>) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    {
        let mut g = lock(&shared.gateway);
        g.connections += 1;
        g.live = false;
        g.conn = Some(tx.clone());
    }
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": HEARTBEAT_MS } });
    if socket.send(Message::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Drop) | None => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                    on_frame(&shared, &tx, &frame);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let mut g = lock(&shared.gateway);
    if g.conn.as_ref().is_some_and(|c| c.same_channel(&tx)) {
        g.conn = None;
        g.live = false;
    }
}

fn on_frame(shared: &Shared, tx: &mpsc::UnboundedSender<Outgoing>, frame: &Value) {
    let addr = lock(&shared.addr).clone();
    let mut g = lock(&shared.gateway);
    match frame["op"].as_u64() {
        Some(1) => {
            g.heartbeats += 1;
            let _ = tx.send(Outgoing::Text(json!({ "op": 11 }).to_string()));
        }
        Some(2) => {
            g.identifies += 1;
            if !is_token(&frame["d"]["token"]) {
                // 4004 Authentication failed.
                let _ = tx.send(Outgoing::Drop);
                return;
            }
            let session_id = format!("fake-session-{}", g.identifies);
            g.session_id = Some(session_id.clone());
            g.seq = 0;
            let ready = json!({
                "t": "READY",
                "d": {
                    "v": 10,
                    "user": {
                        "id": APPLICATION_ID.to_string(), "username": "Lifeboat", "discriminator": "0",
                        "avatar": null, "bot": true, "mfa_enabled": true, "verified": true, "flags": 0,
                    },
                    "guilds": [],
                    "session_id": session_id,
                    "resume_gateway_url": format!("ws://{addr}/gateway"),
                    "shard": [0, 1],
                    "application": { "id": APPLICATION_ID.to_string(), "flags": 0 },
                },
            });
            go_live(&mut g, tx, ready);
        }
        Some(6) => {
            let same = frame["d"]["session_id"].as_str().is_some_and(|s| g.session_id.as_deref() == Some(s));
            if same && is_token(&frame["d"]["token"]) {
                g.resumes += 1;
                go_live(&mut g, tx, json!({ "t": "RESUMED", "d": null }));
            } else {
                // Invalid session, not resumable: the bot identifies anew.
                let _ = tx.send(Outgoing::Text(json!({ "op": 9, "d": false }).to_string()));
            }
        }
        _ => {}
    }
}

/// The bot's token, as IDENTIFY and RESUME carry it (Discord accepts it
/// with or without the "Bot " that twilight puts in front).
fn is_token(v: &Value) -> bool {
    v.as_str().is_some_and(|t| t.strip_prefix("Bot ").unwrap_or(t) == TOKEN)
}

fn go_live(g: &mut Gateway, tx: &mpsc::UnboundedSender<Outgoing>, first: Value) {
    send_event(g, tx, first);
    g.live = true;
    while let Some(event) = g.backlog.pop_front() {
        send_event(g, tx, event);
    }
}

fn error(status: StatusCode, message: &str, code: u64) -> Response {
    (status, axum::Json(json!({ "message": message, "code": code }))).into_response()
}

fn fault(f: BotFault) -> Response {
    match f {
        BotFault::RateLimited { retry_after, global } => {
            let mut h = HeaderMap::new();
            let put = |h: &mut HeaderMap, k: &'static str, v: String| {
                h.insert(k, HeaderValue::from_str(&v).expect("header value"));
            };
            put(&mut h, "retry-after", format!("{}", retry_after.ceil() as u64));
            if global {
                put(&mut h, "x-ratelimit-global", "true".into());
                put(&mut h, "x-ratelimit-scope", "global".into());
            } else {
                put(&mut h, "x-ratelimit-scope", "user".into());
                put(&mut h, "x-ratelimit-bucket", "f1a2b3c4d5e6".into());
                put(&mut h, "x-ratelimit-limit", "5".into());
                put(&mut h, "x-ratelimit-remaining", "0".into());
                put(&mut h, "x-ratelimit-reset-after", format!("{retry_after:.3}"));
            }
            let body =
                json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global });
            (StatusCode::TOO_MANY_REQUESTS, h, axum::Json(body)).into_response()
        }
        BotFault::Server(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, format!("<html><body>{code}</body></html>")).into_response()
        }
    }
}

fn message_json(id: u64, channel: u64, data: &Value) -> Value {
    json!({
        "id": id.to_string(),
        "type": 0,
        "content": data.get("content").cloned().unwrap_or(json!("")),
        "channel_id": channel.to_string(),
        "author": { "id": APPLICATION_ID.to_string(), "username": "Lifeboat", "discriminator": "0", "avatar": null, "bot": true },
        "attachments": [],
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": false,
        "tts": false,
        "timestamp": "2026-11-23T10:00:00.000000+00:00",
        "edited_timestamp": null,
        "flags": data.get("flags").cloned().unwrap_or(json!(0)),
        "components": data.get("components").cloned().unwrap_or(json!([])),
    })
}

async fn rest(
    State(shared): State<Arc<Shared>>,
    Path(path): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bot {TOKEN}"));
    let path = format!("/{path}");
    lock(&shared.requests).push(Request {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        authorized,
    });
    if let Some(f) = lock(&shared.faults).pop_front() {
        return fault(f);
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let offset = *lock(&shared.age_offset);
    match (method.as_str(), parts.as_slice()) {
        // Interaction endpoints take the interaction's token instead of the bot's.
        ("POST", ["interactions", _id, token, "callback"]) => {
            let mut all = lock(&shared.interactions);
            let Some(i) = all.get_mut(*token) else {
                return error(StatusCode::NOT_FOUND, "Unknown interaction", 10062);
            };
            if i.acked {
                return error(StatusCode::BAD_REQUEST, "Interaction has already been acknowledged.", 40060);
            }
            if i.created.elapsed() + offset > ACK_DEADLINE {
                return error(StatusCode::NOT_FOUND, "Unknown interaction", 10062);
            }
            i.acked = true;
            let kind = body["type"].as_u64().unwrap_or(0);
            i.replies.push(Reply { how: "callback", kind, data: body["data"].clone() });
            StatusCode::NO_CONTENT.into_response()
        }
        (m, ["webhooks", _app, token, rest @ ..]) => {
            let mut all = lock(&shared.interactions);
            let Some(i) = all.get_mut(*token) else {
                return error(StatusCode::NOT_FOUND, "Unknown Webhook", 10015);
            };
            if i.created.elapsed() + offset > TOKEN_VALID_FOR {
                return error(StatusCode::UNAUTHORIZED, "Invalid Webhook Token", 50027);
            }
            if !i.acked {
                return error(StatusCode::NOT_FOUND, "Unknown Webhook", 10015);
            }
            let how = match (m, rest) {
                ("PATCH", ["messages", "@original"]) => "edit",
                ("POST", []) => "followup",
                _ => return error(StatusCode::NOT_FOUND, "404: Not Found", 0),
            };
            i.replies.push(Reply { how, kind: 0, data: body.clone() });
            drop(all);
            let id = next(&shared);
            axum::Json(message_json(id, 1_187_000_000_000_000_200, &body)).into_response()
        }
        _ if !authorized => error(StatusCode::UNAUTHORIZED, "401: Unauthorized", 0),
        ("GET", ["gateway", "bot"]) => {
            let addr = lock(&shared.addr).clone();
            axum::Json(json!({
                "url": format!("ws://{addr}/gateway"),
                "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1 },
            }))
            .into_response()
        }
        ("GET", ["users", "@me"]) => axum::Json(json!({
            "id": APPLICATION_ID.to_string(), "username": "Lifeboat", "discriminator": "0",
            "avatar": null, "bot": true, "flags": 0,
        }))
        .into_response(),
        ("PUT", ["applications", _app, "commands"]) => {
            let mut out = Vec::new();
            for c in body.as_array().into_iter().flatten() {
                let mut c = c.clone();
                c["id"] = json!(next(&shared).to_string());
                c["application_id"] = json!(APPLICATION_ID.to_string());
                c["version"] = json!("1");
                out.push(c);
            }
            axum::Json(Value::Array(out)).into_response()
        }
        ("POST", ["users", "@me", "channels"]) => {
            let Some(recipient) = body["recipient_id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
                return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
            };
            let channel = {
                let known = lock(&shared.dm_channels).get(&recipient).copied();
                match known {
                    Some(c) => c,
                    None => {
                        let c = next(&shared);
                        lock(&shared.dm_channels).insert(recipient, c);
                        c
                    }
                }
            };
            axum::Json(json!({ "id": channel.to_string(), "type": 1, "recipients": [user_json(recipient)], "last_message_id": null }))
                .into_response()
        }
        ("POST", ["channels", channel, "messages"]) => {
            let channel: u64 = channel.parse().unwrap_or(0);
            let recipient = lock(&shared.dm_channels).iter().find(|(_, c)| **c == channel).map(|(u, _)| *u);
            let Some(recipient) = recipient else {
                return error(StatusCode::NOT_FOUND, "Unknown Channel", 10003);
            };
            let content = body["content"].as_str().unwrap_or_default().to_string();
            if content.is_empty() || content.chars().count() > 2000 {
                return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
            }
            lock(&shared.dms).push(DirectMessage { recipient, content });
            let id = next(&shared);
            axum::Json(message_json(id, channel, &body)).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "404: Not Found", 0),
    }
}

fn next(shared: &Shared) -> u64 {
    let mut n = lock(&shared.next_id);
    *n += 1;
    *n
}
