//! `lifeboat-scheduler`: runs Lifeboat's backup cycle (backup → verify →
//! deliver → retention) on `schedule.cron`.
//!
//! - As a daemon (the default): sleeps until the next fire time, runs the
//!   cycle, and after downtime runs the one missed cycle at once. It beats a
//!   heartbeat into the state database every 30 s and stops cleanly on
//!   SIGTERM or SIGINT (no partial archive, heartbeat "stopped", exit 0).
//! - With `--once`: one full cycle, exiting with its code (0 ok, 1 failed,
//!   2 bad config, 3 partial, 4 another cycle running), for systemd timers
//!   and cron.
//!
//! # Layout
//! - [`timing`]: the catch-up and sleep decisions, pure functions of `now`.
//! - [`heartbeat`]: the heartbeat writer.
//! - [`continuous`]: the capture loop of `[continuous]` (daemon only).
//! - [`metrics_server`]: `GET /metrics` on `monitoring.metrics_listen`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use clap::Parser;
use lifeboat_core::manifest::Trigger;
use lifeboat_core::schedule::Schedule;
use lifeboat_core::state::HeartbeatState;
use lifeboat_core::{CancellationToken, exit, service};
use lifeboat_cycle::{CycleError, run_cycle};
use lifeboat_engine::config::Config;
use tokio::signal::unix::{SignalKind, signal};

mod continuous;
mod heartbeat;
mod metrics_server;
mod timing;

use heartbeat::{Beater, STALE_AFTER_SECS};

/// Runs Lifeboat's backup cycle on `schedule.cron`, or once with `--once`.
#[derive(Debug, Parser)]
#[command(name = "lifeboat-scheduler", version = lifeboat_about::VERSION, about)]
struct Args {
    /// Configuration file (TOML); the built-in defaults fill in the rest.
    /// Without it, the file named by LIFEBOAT_CONFIG, then /etc/lifeboat/lifeboat.toml.
    // Config::load reads LIFEBOAT_CONFIG itself, so its errors name the
    // variable rather than --config.
    #[arg(long, short = 'c', value_name = "PATH")]
    config: Option<PathBuf>,
    /// Run one full cycle now and exit with its code (for systemd timers and cron).
    #[arg(long)]
    once: bool,
    /// Print this manual page (roff) and exit; the package installs it as lifeboat-scheduler(8).
    #[arg(long, hide = true)]
    manpage: bool,
}

const EXAMPLES: &[(&str, &str)] = &[
    ("systemctl enable --now lifeboat-scheduler.service", "The daemon, as installed: cycles on schedule.cron."),
    ("lifeboat-scheduler -c /etc/lifeboat/lifeboat.toml --once", "One full cycle now (backup, delivery, retention)."),
    ("systemctl enable --now lifeboat-backup.timer", "Instead of the daemon: one cycle per timer tick."),
];

fn main() -> ExitCode {
    lifeboat_core::logging::init("info");
    let args = Args::parse();
    if args.manpage {
        use clap::CommandFactory as _;
        let see_also = ["lifeboat(1)", "lifeboat.toml(5)", "lifeboat-dashboard(8)"];
        return lifeboat_about::print_daemon_page(Args::command(), EXAMPLES, &see_also);
    }
    let cfg = match Config::load(args.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("lifeboat-scheduler: {e}");
            return code(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat-scheduler: cannot start the async runtime: {e}");
            return code(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        watch_signals(cancel.clone())?;
        if args.once { once(&cfg, cancel).await } else { daemon(&cfg, cancel).await }
    });
    // A backup thread stuck in a slow step must not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(c) => code(c),
        Err(e) => {
            eprintln!("lifeboat-scheduler: {}", lifeboat_about::error_text(e.as_ref()));
            code(exit::FAILURE)
        }
    }
}

fn code(c: i32) -> ExitCode {
    ExitCode::from(u8::try_from(c).unwrap_or(1))
}

/// SIGTERM (systemd's stop) and SIGINT (Ctrl-C) cancel `cancel`; everything
/// else selects on it.
fn watch_signals(cancel: CancellationToken) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!("{name} received: stopping; a running backup is abandoned and leaves nothing behind");
        cancel.cancel();
    });
    Ok(())
}

/// One cycle, for timers: prints its summary and returns its exit code. An
/// interrupted cycle exits 0, whether it stopped during the backup (nothing
/// is left behind) or during delivery (the archive is written and verified;
/// the outbox sends the rest next cycle): being stopped is not a failure.
async fn once(cfg: &Config, cancel: CancellationToken) -> anyhow::Result<i32> {
    let schedule = &cfg.schedule.cron;
    let report = match run_cycle(cfg, Trigger::Scheduled, cancel).await {
        Ok(report) => report,
        Err(e @ CycleError::Busy { .. }) => {
            eprintln!("lifeboat-scheduler: not starting: {e}");
            return Ok(exit::BUSY);
        }
        Err(e) => return Err(e).context("the backup cycle could not start"),
    };
    println!("{}", report.summary());
    // Timer deployments have no daemon: the heartbeat after each cycle tells
    // the dashboard the schedule is alive until the next fire time. A live
    // daemon's own heartbeat is left alone.
    let now = Utc::now();
    let existing = cfg.open_state().and_then(|s| s.heartbeat(heartbeat::PROCESS));
    match existing {
        Ok(hb) if !heartbeat::daemon_alive(hb.as_ref(), now) && !report.interrupted() => {
            let next = schedule.next_after(now);
            Beater::new(cfg.state_path()).set(HeartbeatState::Timer, next, timing::once_stale_after(now, next)).await;
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("could not read the heartbeat: {e}"),
    }
    Ok(if report.interrupted() { exit::SUCCESS } else { report.exit_code() })
}

/// The daemon: catch up on a missed fire time, then fire on the schedule
/// until a signal.
async fn daemon(cfg: &Config, cancel: CancellationToken) -> anyhow::Result<i32> {
    let schedule = &cfg.schedule.cron;
    // Read what was served before the first beat overwrites the old heartbeat.
    let served = {
        let state = cfg.open_state().context("cannot open the state database")?;
        let runs = state.runs(500)?;
        let hb = state.heartbeat(heartbeat::PROCESS)?;
        timing::catch_up_reference(&runs, hb.as_ref())
    };
    let beater = Beater::new(cfg.state_path());
    let stop_ticker = CancellationToken::new();
    if let Some(addr) = cfg.monitoring.metrics_listen {
        metrics_server::serve(cfg.clone(), addr, stop_ticker.clone()).await?;
    }
    let ticker = beater.spawn_ticker(stop_ticker.clone());
    tokio::spawn(service::keep_watchdog(stop_ticker.clone()));
    continuous::spawn(cfg, stop_ticker.clone());
    tokio::spawn(lifeboat_cycle::watch::run(cfg.clone(), stop_ticker.clone(), heartbeat::PROCESS.as_str()));
    service::ready();
    tracing::info!(
        "scheduler started (pid {}), schedule {:?} (UTC), state in {}",
        std::process::id(),
        schedule.as_str(),
        cfg.state_path().display()
    );

    let result = async {
        if let Some(missed) = timing::missed_fire(schedule, served, Utc::now()) {
            tracing::info!("the run of {missed} was missed while the scheduler was not running; running it now");
            cycle(cfg, &beater, schedule, &cancel).await;
        }
        while !cancel.is_cancelled() {
            let next = schedule
                .next_after(Utc::now())
                .with_context(|| format!("schedule.cron {:?} never fires again", schedule.as_str()))?;
            beater.set(HeartbeatState::Idle, Some(next), STALE_AFTER_SECS).await;
            tracing::info!("next run at {next}");
            if !sleep_until(next, &cancel).await {
                break;
            }
            cycle(cfg, &beater, schedule, &cancel).await;
        }
        anyhow::Ok(())
    }
    .await;

    service::stopping();
    stop_ticker.cancel();
    let _ = ticker.await;
    beater.set(HeartbeatState::Stopped, None, STALE_AFTER_SECS).await;
    tracing::info!("scheduler stopped");
    result.map(|()| exit::SUCCESS)
}

/// Sleeps until `next` by the wall clock; false when cancelled first.
async fn sleep_until(next: chrono::DateTime<Utc>, cancel: &CancellationToken) -> bool {
    loop {
        let now = Utc::now();
        if now >= next {
            return true;
        }
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = tokio::time::sleep(timing::nap(now, next, heartbeat::INTERVAL)) => {}
        }
    }
}

/// Runs one scheduled cycle; its failures are reported (events, alert) and
/// the daemon carries on with the next fire time.
async fn cycle(cfg: &Config, beater: &Beater, schedule: &Schedule, cancel: &CancellationToken) {
    beater.set(HeartbeatState::Running, schedule.next_after(Utc::now()), STALE_AFTER_SECS).await;
    match run_cycle(cfg, Trigger::Scheduled, cancel.clone()).await {
        // The cycle logged its one summary line itself ("scheduled cycle
        // finished: …"); this only closes it.
        Ok(report) => match report.exit_code() {
            exit::SUCCESS => tracing::info!("cycle done"),
            code => tracing::warn!("cycle done with problems (exit code {code}); the line above says which"),
        },
        Err(e @ CycleError::Busy { .. }) => tracing::warn!("scheduled cycle skipped: {e}"),
        Err(e) => tracing::error!("scheduled cycle could not start: {e}"),
    }
}
