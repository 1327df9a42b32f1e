//! Talking to systemd when it runs a daemon as `Type=notify`: "ready" once
//! the daemon can work, "stopping" on the way out, and the watchdog's
//! keep-alive while its loop still turns. Outside systemd (no
//! `NOTIFY_SOCKET`) every call does nothing. And the signals that stop a
//! daemon: SIGTERM (systemd's stop) and SIGINT.

use std::time::Duration;

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

/// Start-up is done: the configuration is valid and the daemon works.
pub fn ready() {
    send(&[NotifyState::Ready]);
}

/// The daemon is stopping; a running cycle is being abandoned cleanly.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How often to send the watchdog's keep-alive: half of `WatchdogSec=`, or
/// None when systemd watches nothing.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    let mut usec = 0;
    sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec) / 2)
}

/// Sends the keep-alive on the daemon's runtime until `stop`: a runtime that
/// hangs stops the pings, and systemd restarts the daemon. Returns at once
/// when systemd watches nothing.
pub async fn keep_watchdog(stop: CancellationToken) {
    let Some(every) = watchdog_interval() else { return };
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => send(&[NotifyState::Watchdog]),
        }
    }
}

/// Waits for SIGTERM (systemd's stop) or SIGINT and logs which came. When
/// the daemon cannot listen for them it logs that and never returns.
pub async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
}

fn send(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}
