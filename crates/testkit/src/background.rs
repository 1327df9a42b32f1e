//! Serving an axum app on 127.0.0.1:0 from a thread of its own, so that
//! blocking tests (which start the real binaries) can use it.

use std::net::SocketAddr;

use axum::Router;

/// A server running on its own thread; dropping it stops the server.
pub struct Background {
    /// Where it listens.
    pub addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves `app` on a free loopback port from a thread named `name`.
pub fn serve(name: &str, app: Router) -> Background {
    serve_at(name, std::net::Ipv4Addr::LOCALHOST.into(), app)
}

/// [`serve`] on a free port of `ip` (another loopback address, 127.0.0.2,
/// is another host to an HTTP client).
pub fn serve_at(name: &str, ip: std::net::IpAddr, app: Router) -> Background {
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}:0: {e}"));
    listener.set_nonblocking(true).expect("nonblocking listener");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                let _ = serve.await;
            });
        })
        .expect("server thread");
    Background { addr, _stop: stop }
}
