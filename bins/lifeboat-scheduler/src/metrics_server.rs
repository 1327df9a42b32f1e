//! `GET /metrics` on `monitoring.metrics_listen`, for Prometheus to scrape:
//! the same text as `lifeboat metrics`, read fresh from the state database
//! on every request.
//!
//! The endpoint shares the daemon's file descriptors with the cycle, so it
//! holds at most [`MAX_CONNECTIONS`] connections (a new one closes the
//! oldest, so a scrape still gets in past idle ones) and closes each after
//! [`CONNECTION_SECS`]: idle or slowly sent requests cannot pile up until
//! the cycle finds no descriptor left.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use lifeboat_engine::config::Config;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The most connections held at once, far under the soft limit on open
/// files (1024 by default under systemd).
pub const MAX_CONNECTIONS: usize = 64;
/// How long a connection may stay open: a scrape takes milliseconds.
pub const CONNECTION_SECS: u64 = 10;

/// Binds `addr` now (so a port in use stops the daemon at start-up with a
/// clear error) and serves until `stop`.
pub async fn serve(cfg: Config, addr: SocketAddr, stop: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("monitoring.metrics_listen: cannot listen on {addr}"))?;
    tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
    let app = Router::new().route("/metrics", get(metrics)).with_state(cfg);
    let listener = Bounded { inner: listener, open: VecDeque::new() };
    tokio::spawn(async move {
        let server = axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await });
        if let Err(e) = server.await {
            tracing::error!("the metrics server stopped: {e}");
        }
    });
    Ok(())
}

async fn metrics(Extract(cfg): Extract<Config>) -> impl IntoResponse {
    // SQLite and the file system: off the async threads.
    let rendered = tokio::task::spawn_blocking(move || {
        let state = cfg.open_state().map_err(|e| e.to_string())?;
        lifeboat_engine::metrics::render(&cfg, Some(&state), chrono::Utc::now()).map_err(|e| e.to_string())
    })
    .await;
    match rendered {
        Ok(Ok(text)) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e.to_string()),
    }
}

/// The metrics listener: at most [`MAX_CONNECTIONS`] open, the oldest
/// closed to make room.
struct Bounded {
    inner: TcpListener,
    /// The open connections, oldest first: how to close each, and whether
    /// it is still open.
    open: VecDeque<(CancellationToken, Weak<()>)>,
}

impl axum::serve::Listener for Bounded {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        loop {
            let (stream, addr) = match self.inner.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it
                    // was taken: wait instead of spinning.
                    tracing::debug!("metrics: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            self.open.retain(|(_, alive)| alive.strong_count() > 0);
            while self.open.len() >= MAX_CONNECTIONS {
                if let Some((close, _)) = self.open.pop_front() {
                    close.cancel();
                }
            }
            let close = CancellationToken::new();
            let alive = Arc::new(());
            self.open.push_back((close.clone(), Arc::downgrade(&alive)));
            let connection = Connection {
                stream,
                closed: Box::pin(close.cancelled_owned()),
                deadline: Box::pin(tokio::time::sleep(Duration::from_secs(CONNECTION_SECS))),
                _alive: alive,
            };
            return (connection, addr);
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// One connection, failing every read and write once its time is up or it
/// was closed to make room, so the server drops it.
struct Connection {
    stream: TcpStream,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _alive: Arc<()>,
}

impl Connection {
    fn ended(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(io::ErrorKind::TimedOut, "the connection's time is up"));
        }
        if self.closed.as_mut().poll(cx).is_ready() {
            return Some(io::Error::new(io::ErrorKind::ConnectionAborted, "closed to make room for a newer one"));
        }
        None
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.ended(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.ended(cx) {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
