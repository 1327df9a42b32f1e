//! Serving the methods.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::listener::ConnKill;
use super::types::{BOT_ID, BOT_USERNAME, Call, CallbackAnswer, DOWNLOAD_LIMIT, Edit, Fault, SentMessage, Upload};
use super::wire::{
    Parsed, api_error, as_bool, as_i64, as_json, as_str, bot_user, canonical, chat_obj, fault_response,
    next_message_id, ok, parse_request,
};
use super::{Data, Inner, StoredFile, now_unix};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub(super) async fn handle(
    State(inner): State<Arc<Inner>>,
    ConnectInfo(kill): ConnectInfo<ConnKill>,
    req: Request,
) -> Response {
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
                if shot.pass > 0 {
                    shot.pass -= 1;
                } else {
                    shot.remaining = shot.remaining.saturating_sub(1);
                    fault = Some(shot.fault.clone());
                    if shot.remaining == 0 {
                        d.one_shots.remove(pos);
                    }
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

    let delay = inner.lock().upload_delay;
    if upload_size > 0 && !delay.is_zero() {
        tokio::time::sleep(delay).await;
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

pub(super) fn download(inner: &Inner, token: &str, file_path: &str) -> Response {
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

pub(super) async fn get_updates(inner: &Inner, params: &Map<String, Value>) -> Response {
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

pub(super) fn dispatch(inner: &Inner, method: &str, parsed: &Parsed, chat_id: Option<i64>) -> Response {
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
        "setMyCommands" | "getMyCommands" | "deleteMyCommands" => {
            let scope = as_json(p.get("scope"));
            let key = match scope.as_ref().and_then(|s| s["type"].as_str()) {
                None | Some("default") => None,
                Some("chat") => match scope.as_ref().and_then(|s| s["chat_id"].as_i64()) {
                    Some(chat) if d.chat_faults.contains_key(&chat) => {
                        return api_error(400, "Bad Request: chat not found", None);
                    }
                    Some(chat) => Some(chat),
                    None => return api_error(400, "Bad Request: chat_id in scope is required", None),
                },
                Some(other) => return api_error(400, &format!("Bad Request: unsupported scope type {other:?}"), None),
            };
            match method {
                "setMyCommands" => {
                    d.commands.insert(key, as_json(p.get("commands")).unwrap_or(json!([])));
                    ok(json!(true))
                }
                "getMyCommands" => ok(d.commands.get(&key).cloned().unwrap_or(json!([]))),
                _ => {
                    d.commands.remove(&key);
                    ok(json!(true))
                }
            }
        }
        "close" | "logOut" | "sendChatAction" => ok(json!(true)),
        "answerCallbackQuery" => {
            let Some(id) = as_str(p.get("callback_query_id")) else {
                return api_error(400, "Bad Request: parameter \"callback_query_id\" is required", None);
            };
            let late = d.pressed_at.get(&id).is_none_or(|at| at.elapsed() > d.answer_deadline);
            if late {
                return api_error(
                    400,
                    "Bad Request: query is too old and response timeout expired or query ID is invalid",
                    None,
                );
            }
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
            if text.encode_utf16().count() > 4096 {
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
                    Some(t) if t.encode_utf16().count() > 4096 => {
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

pub(super) fn send_document(d: &mut Data, parsed: &Parsed, chat_id: Option<i64>) -> Response {
    let p = &parsed.params;
    let Some(chat) = chat_id else { return api_error(400, "Bad Request: chat_id is empty", None) };
    let caption = as_str(p.get("caption"));
    if caption.as_ref().is_some_and(|c| c.encode_utf16().count() > 1024) {
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
