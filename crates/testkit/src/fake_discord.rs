//! A fake Discord webhook on 127.0.0.1:0, answering as Discord does: the
//! created message object for `?wait=true`, `{"message", "code"}` bodies for
//! refusals (401 Invalid Webhook Token, 404 Unknown Webhook, 413 Request
//! entity too large), and a real rate limit of 5 posts per 2 s per webhook
//! with `X-RateLimit-*` headers and a 429 carrying `retry_after`. Tests can
//! queue faults and read every message and attachment it received.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// Discord's webhook rate limit: this many posts…
const BUCKET: usize = 5;
/// …per this window.
const WINDOW: Duration = Duration::from_secs(2);

/// A fault served instead of the next post.
#[derive(Debug, Clone, PartialEq)]
pub enum DiscordFault {
    /// 429 with this `retry_after`, in seconds.
    RateLimited(f64),
    /// 502 Bad Gateway (Cloudflare's HTML page).
    BadGateway,
}

/// One message the webhook accepted.
#[derive(Debug, Clone)]
pub struct Posted {
    pub content: String,
    /// Its flags (4096 = without a notification).
    pub flags: u64,
    /// Its attachments: file name and bytes.
    pub files: Vec<(String, Vec<u8>)>,
}

#[derive(Default)]
struct Shared {
    posted: Mutex<Vec<Posted>>,
    /// None: let that post through.
    faults: Mutex<VecDeque<Option<DiscordFault>>>,
    recent: Mutex<VecDeque<Instant>>,
    rate_limited: Mutex<u32>,
    max_file: u64,
}

/// The running server; dropping it stops it.
pub struct FakeDiscord {
    server: crate::background::Background,
    shared: Arc<Shared>,
}

/// The webhook's id and token in its URL.
const ID: &str = "1187001234567890123";
const TOKEN: &str = "wh-token-Zx81bQ5vL0r9Kd2mT4yPq7sJ3nGh6cFa";

impl FakeDiscord {
    /// A webhook taking attachments up to 10 MiB, as Discord without boosts.
    pub fn start() -> FakeDiscord {
        FakeDiscord::with_max_file(10 * 1024 * 1024)
    }

    /// A webhook taking attachments up to `max_file` bytes.
    pub fn with_max_file(max_file: u64) -> FakeDiscord {
        let shared = Arc::new(Shared { max_file, ..Default::default() });
        let app = Router::new()
            .route("/api/webhooks/{id}/{token}", post(execute).get(describe))
            .layer(DefaultBodyLimit::disable())
            .with_state(shared.clone());
        FakeDiscord { server: crate::background::serve("fake-discord", app), shared }
    }

    /// The webhook URL (the secret Lifeboat reads from its file).
    pub fn webhook_url(&self) -> String {
        format!("http://{}/api/webhooks/{ID}/{TOKEN}", self.server.addr)
    }

    /// The same webhook with a wrong token.
    pub fn wrong_token_url(&self) -> String {
        format!("http://{}/api/webhooks/{ID}/not-the-token", self.server.addr)
    }

    /// Serves `faults` instead of the next posts, in order.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = DiscordFault>) {
        lock(&self.shared.faults).extend(faults.into_iter().map(Some));
    }

    /// Lets the next `n` posts through before the faults queued after this.
    pub fn pass_next(&self, n: usize) {
        lock(&self.shared.faults).extend(std::iter::repeat_n(None, n));
    }

    /// Every message accepted so far, in order.
    pub fn posted(&self) -> Vec<Posted> {
        lock(&self.shared.posted).clone()
    }

    /// How many posts got a 429 (queued or from the rate limit).
    pub fn rate_limited(&self) -> u32 {
        *lock(&self.shared.rate_limited)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn error(status: StatusCode, message: &str, code: u64) -> Response {
    (status, axum::Json(json!({ "message": message, "code": code }))).into_response()
}

/// Discord's refusal of a wrong webhook id or token, if it is one.
fn refuse_token(id: &str, token: &str) -> Option<Response> {
    if id != ID {
        return Some(error(StatusCode::NOT_FOUND, "Unknown Webhook", 10015));
    }
    if token != TOKEN {
        return Some(error(StatusCode::UNAUTHORIZED, "Invalid Webhook Token", 50027));
    }
    None
}

async fn describe(Path((id, token)): Path<(String, String)>) -> Response {
    if let Some(r) = refuse_token(&id, &token) {
        return r;
    }
    axum::Json(json!({ "type": 1, "id": ID, "name": "Backups", "channel_id": "1187000000000000001", "token": TOKEN }))
        .into_response()
}

/// The rate limit's headers; None when this post is over the limit.
fn take_slot(shared: &Shared) -> (HeaderMap, Option<Duration>) {
    let now = Instant::now();
    let mut recent = lock(&shared.recent);
    while recent.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        recent.pop_front();
    }
    let reset_after = recent.front().map_or(WINDOW, |t| WINDOW.saturating_sub(now.duration_since(*t)));
    let over = recent.len() >= BUCKET;
    if !over {
        recent.push_back(now);
    }
    let mut h = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: String| {
        h.insert(k, HeaderValue::from_str(&v).expect("header value"));
    };
    put(&mut h, "x-ratelimit-limit", BUCKET.to_string());
    put(&mut h, "x-ratelimit-remaining", (BUCKET - recent.len()).to_string());
    put(&mut h, "x-ratelimit-reset-after", format!("{:.3}", reset_after.as_secs_f64()));
    put(&mut h, "x-ratelimit-bucket", "e9a1c1f4b2d7a0c3".to_string());
    (h, over.then_some(reset_after))
}

fn rate_limited(shared: &Shared, mut headers: HeaderMap, retry_after: f64) -> Response {
    *lock(&shared.rate_limited) += 1;
    headers.insert("retry-after", HeaderValue::from_str(&format!("{}", retry_after.ceil() as u64)).expect("value"));
    headers.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    let body = json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": false });
    (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(body)).into_response()
}

async fn execute(
    State(shared): State<Arc<Shared>>,
    Path((id, token)): Path<(String, String)>,
    req: Request,
) -> Response {
    // Discord's edge reads the whole request before anything answers; a
    // server that answers early makes the client see a broken pipe instead.
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
    };
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    if let Some(r) = refuse_token(&id, &token) {
        return r;
    }
    let (headers, over) = take_slot(&shared);
    if let Some(wait) = over {
        return rate_limited(&shared, headers, wait.as_secs_f64());
    }
    match lock(&shared.faults).pop_front().flatten() {
        Some(DiscordFault::RateLimited(s)) => return rate_limited(&shared, headers, s),
        Some(DiscordFault::BadGateway) => {
            return (StatusCode::BAD_GATEWAY, "<html><body>502 Bad Gateway</body></html>").into_response();
        }
        None => {}
    }
    let multipart = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let (payload, files) = if multipart {
        let Ok(mut form) = Multipart::from_request(req, &()).await else {
            return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
        };
        let mut payload = Value::Null;
        let mut files = Vec::new();
        loop {
            match form.next_field().await {
                Ok(Some(field)) => {
                    let name = field.name().unwrap_or_default().to_string();
                    let file_name = field.file_name().map(str::to_string);
                    let Ok(bytes) = field.bytes().await else {
                        return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
                    };
                    if name == "payload_json" {
                        payload = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    } else if name.starts_with("files[") {
                        files.push((file_name.unwrap_or(name), bytes.to_vec()));
                    }
                }
                Ok(None) => break,
                Err(_) => return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035),
            }
        }
        (payload, files)
    } else {
        let Ok(body) = Bytes::from_request(req, &()).await else {
            return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
        };
        (serde_json::from_slice(&body).unwrap_or(Value::Null), Vec::new())
    };
    if files.iter().any(|(_, b)| b.len() as u64 > shared.max_file) {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Request entity too large", 40005);
    }
    let content = payload.get("content").and_then(Value::as_str).unwrap_or_default().to_string();
    if content.chars().count() > 2000 {
        return error(StatusCode::BAD_REQUEST, "Invalid Form Body", 50035);
    }
    if content.is_empty() && files.is_empty() {
        return error(StatusCode::BAD_REQUEST, "Cannot send an empty message", 50006);
    }
    let flags = payload.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let mut posted = lock(&shared.posted);
    posted.push(Posted { content: content.clone(), flags, files: files.clone() });
    let n = posted.len() as u64;
    let attachments: Vec<Value> = files
        .iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            json!({
                "id": format!("{}", 1_300_000_000_000_000_000u64 + n * 10 + i as u64),
                "filename": name,
                "size": bytes.len(),
                "url": format!("https://cdn.discordapp.com/attachments/1/{n}/{name}"),
                "proxy_url": format!("https://media.discordapp.net/attachments/1/{n}/{name}"),
                "content_type": "application/octet-stream",
            })
        })
        .collect();
    let message = message_object(json!({
        "id": format!("{}", 1_300_000_000_000_000_000u64 + n),
        "content": content,
        "channel_id": "1187000000000000001",
        "author": { "bot": true, "id": ID, "username": "Backups", "avatar": null, "discriminator": "0000" },
        "attachments": attachments,
        "flags": flags,
        "webhook_id": ID,
    }));
    (StatusCode::OK, headers, axum::Json(message)).into_response()
}

/// A message as Discord's API returns it: `fields` (its id, content,
/// channel, author, …) over the fields every message carries, empty.
pub(crate) fn message_object(fields: Value) -> Value {
    let mut message = json!({
        "type": 0,
        "attachments": [],
        "embeds": [],
        "mentions": [],
        "mention_roles": [],
        "pinned": false,
        "mention_everyone": false,
        "tts": false,
        "timestamp": "2026-11-23T10:00:00.000000+00:00",
        "edited_timestamp": null,
        "flags": 0,
        "components": [],
    });
    if let (Some(message), Value::Object(fields)) = (message.as_object_mut(), fields) {
        message.extend(fields);
    }
    message
}
