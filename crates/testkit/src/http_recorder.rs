//! A tiny HTTP server on 127.0.0.1:0 that records every request (method,
//! path, Referer, body, when) and answers 200, a redirect, a list of
//! statuses given in advance, or never answers at all: the monitor on the
//! other end of a dead-man's switch, or any webhook.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET`, `POST`…
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Referer` header, if one was sent.
    pub referer: Option<String>,
    /// The `Content-Type` header, if one was sent.
    pub content_type: Option<String>,
    /// Every other header, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, as text (lossy).
    pub body: String,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    hang: bool,
    /// Answer 302 to this base URL plus the request's path.
    redirect_to: Option<String>,
    /// Statuses the next requests get, in order; then 200.
    answers: Mutex<std::collections::VecDeque<u16>>,
}

/// The running server; dropping it stops it.
pub struct HttpRecorder {
    server: crate::background::Background,
    shared: Arc<Shared>,
}

impl HttpRecorder {
    /// Answers every request with 200 "OK".
    pub fn start() -> HttpRecorder {
        HttpRecorder::spawn(false)
    }

    /// Reads every request and never answers (a monitor that hangs).
    pub fn start_hanging() -> HttpRecorder {
        HttpRecorder::spawn(true)
    }

    /// Answers every request with 302 to `base` (e.g. another recorder's
    /// [`HttpRecorder::url`]) plus the request's path.
    pub fn start_redirecting_to(base: &str) -> HttpRecorder {
        let shared = Shared { redirect_to: Some(base.to_string()), ..Shared::default() };
        HttpRecorder::serve(std::net::Ipv4Addr::LOCALHOST.into(), shared)
    }

    /// Answers the first requests with `statuses`, one each in order (a 429
    /// with `Retry-After: 0`), then 200 "OK": a service that is rate
    /// limited or failing before it recovers.
    pub fn start_answering(statuses: &[u16]) -> HttpRecorder {
        let shared = Shared { answers: Mutex::new(statuses.iter().copied().collect()), ..Shared::default() };
        HttpRecorder::serve(std::net::Ipv4Addr::LOCALHOST.into(), shared)
    }

    /// Answers every request with 200 "OK", listening on `ip` (127.0.0.2:
    /// another host than 127.0.0.1 to a client).
    pub fn start_at(ip: std::net::IpAddr) -> HttpRecorder {
        HttpRecorder::serve(ip, Shared::default())
    }

    fn spawn(hang: bool) -> HttpRecorder {
        HttpRecorder::serve(std::net::Ipv4Addr::LOCALHOST.into(), Shared { hang, ..Shared::default() })
    }

    fn serve(ip: std::net::IpAddr, shared: Shared) -> HttpRecorder {
        let shared = Arc::new(shared);
        let app = Router::new().fallback(record).with_state(shared.clone());
        HttpRecorder { server: crate::background::serve_at("http-recorder", ip, app), shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The bodies received so far, in arrival order.
    pub fn bodies(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.body).collect()
    }

    /// The paths requested so far, in arrival order.
    pub fn paths(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.path).collect()
    }
}

async fn record(State(shared): State<Arc<Shared>>, req: Request) -> axum::response::Response {
    use axum::response::IntoResponse;
    // The body is not Sync: nothing borrowing the request lives across the await.
    let (parts, body) = req.into_parts();
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let referer = header(axum::http::header::REFERER);
    let content_type = header(axum::http::header::CONTENT_TYPE);
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let path = parts.uri.path().to_string();
    let method = parts.method.to_string();
    let bytes = axum::body::to_bytes(body, 16 * 1024 * 1024).await.unwrap_or_default();
    let received = Received {
        method,
        path: path.clone(),
        referer,
        content_type,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        at: Instant::now(),
    };
    shared.received.lock().unwrap_or_else(|e| e.into_inner()).push(received);
    if shared.hang {
        std::future::pending::<()>().await;
    }
    let planned = shared.answers.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    if let Some(status) = planned {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, [(axum::http::header::RETRY_AFTER, "0")], status.canonical_reason().unwrap_or(""))
            .into_response();
    }
    match &shared.redirect_to {
        Some(base) => (StatusCode::FOUND, [(axum::http::header::LOCATION, format!("{base}{path}"))]).into_response(),
        None => (StatusCode::OK, "OK").into_response(),
    }
}
