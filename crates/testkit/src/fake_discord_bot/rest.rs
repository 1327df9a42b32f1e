//! The fake's REST API under `/api/v10`: the interaction endpoints (taking
//! the interaction's token), and the bot's own (taking its token), with the
//! faults queued by the test served first.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    ACK_DEADLINE, APPLICATION_ID, BotFault, DirectMessage, Reply, Request, Shared, TOKEN, TOKEN_VALID_FOR, lock, next,
    user_json,
};

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
    crate::fake_discord::message_object(json!({
        "id": id.to_string(),
        "content": data.get("content").cloned().unwrap_or(json!("")),
        "channel_id": channel.to_string(),
        "author": { "id": APPLICATION_ID.to_string(), "username": "Lifeboat", "discriminator": "0", "avatar": null, "bot": true },
        "flags": data.get("flags").cloned().unwrap_or(json!(0)),
        "components": data.get("components").cloned().unwrap_or(json!([])),
    }))
}

pub(super) async fn rest(
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
