//! The Bot API's wire format: objects, answers, error bodies, requests.

use super::Data;
use super::types::{BOT_ID, BOT_USERNAME, Fault};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub(super) const METHODS: &[&str] = &[
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

pub(super) fn canonical(method: &str) -> String {
    METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(method))
        .map(|m| m.to_string())
        .unwrap_or_else(|| method.to_ascii_lowercase())
}

pub(super) fn user(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}"), "username": format!("user{id}"), "language_code": "en"})
}

pub(super) fn bot_user() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "Lifeboat Test", "username": BOT_USERNAME})
}

pub(super) fn private_chat(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": format!("User{id}"), "username": format!("user{id}")})
}

pub(super) fn chat_obj(id: i64) -> Value {
    if id > 0 {
        private_chat(id)
    } else if id < -1_000_000_000_000 {
        json!({"id": id, "type": "supergroup", "title": format!("Group {id}")})
    } else {
        json!({"id": id, "type": "group", "title": format!("Group {id}")})
    }
}

pub(super) fn next_message_id(d: &mut Data, chat: i64) -> i64 {
    let n = d.next_message_id.entry(chat).or_insert(0);
    *n += 1;
    *n
}

pub(super) fn ok(result: Value) -> Response {
    (StatusCode::OK, axum::Json(json!({"ok": true, "result": result}))).into_response()
}

/// Telegram's error body; `parameters` only when it has something.
pub(super) fn api_error(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters.filter(|p| p.as_object().is_some_and(|o| !o.is_empty())) {
        body["parameters"] = p;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

pub(super) fn fault_response(fault: &Fault, path: &str) -> Response {
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

pub(super) fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn as_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(super) fn as_bool(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true" || s == "1",
        _ => false,
    }
}

/// Multipart text fields hold JSON for objects (`reply_markup`): parse them.
pub(super) fn as_json(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

pub(super) struct FilePart {
    pub(super) name: String,
    pub(super) file_name: String,
    pub(super) bytes: Vec<u8>,
}

pub(super) struct Parsed {
    pub(super) params: Map<String, Value>,
    pub(super) files: Vec<FilePart>,
    pub(super) body_size: u64,
}

pub(super) async fn parse_request(req: Request) -> Result<Parsed, String> {
    let mut params = Map::new();
    if let Some(q) = req.uri().query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
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
            for (k, v) in form_urlencoded::parse(&bytes) {
                params.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    Ok(Parsed { params, files, body_size })
}
