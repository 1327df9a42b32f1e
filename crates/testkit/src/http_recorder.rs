//! A tiny HTTP server on 127.0.0.1:0 that records every request (method,
//! path, when) and answers 200, or never answers at all: the monitor on
//! the other end of a dead-man's switch, or any webhook.

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
    /// When it arrived.
    pub at: Instant,
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    hang: bool,
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

    fn spawn(hang: bool) -> HttpRecorder {
        let shared = Arc::new(Shared { received: Mutex::default(), hang });
        let app = Router::new().fallback(record).with_state(shared.clone());
        HttpRecorder { server: crate::background::serve("http-recorder", app), shared }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The paths requested so far, in arrival order.
    pub fn paths(&self) -> Vec<String> {
        self.received().into_iter().map(|r| r.path).collect()
    }
}

async fn record(State(shared): State<Arc<Shared>>, req: Request) -> (StatusCode, &'static str) {
    let received =
        Received { method: req.method().to_string(), path: req.uri().path().to_string(), at: Instant::now() };
    shared.received.lock().unwrap_or_else(|e| e.into_inner()).push(received);
    if shared.hang {
        std::future::pending::<()>().await;
    }
    (StatusCode::OK, "OK")
}
