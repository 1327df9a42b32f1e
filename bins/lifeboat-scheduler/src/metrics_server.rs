//! `GET /metrics` on `monitoring.metrics_listen`, for Prometheus to scrape:
//! the same text as `lifeboat metrics`, read fresh from the state database
//! on every request.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::State as Extract;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use lifeboat_core::config::Config;
use lifeboat_core::state::State;
use tokio_util::sync::CancellationToken;

/// Binds `addr` now (so a port in use stops the daemon at start-up with a
/// clear error) and serves until `stop`.
pub async fn serve(cfg: Config, addr: SocketAddr, stop: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("monitoring.metrics_listen: cannot listen on {addr}"))?;
    tracing::info!("serving Prometheus metrics on http://{addr}/metrics");
    let app = Router::new().route("/metrics", get(metrics)).with_state(cfg);
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
        let state = State::open_for(&cfg).map_err(|e| e.to_string())?;
        lifeboat_core::metrics::render(&cfg, Some(&state), chrono::Utc::now()).map_err(|e| e.to_string())
    })
    .await;
    match rendered {
        Ok(Ok(text)) => (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], e.to_string()),
    }
}
