//! The fake's gateway: one websocket session at a time, HELLO, the bot's
//! IDENTIFY or RESUME answered with READY or RESUMED, heartbeats acked,
//! dispatched events numbered, and a connection dropped on purpose.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{APPLICATION_ID, Gateway, HEARTBEAT_MS, Outgoing, Shared, TOKEN, lock};

/// Sends a dispatch event on the live session, or keeps it for the next.
pub(super) fn dispatch(shared: &Shared, name: &str, d: Value) {
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

pub(super) async fn gateway(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
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
