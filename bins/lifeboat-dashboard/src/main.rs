//! `lifeboat-dashboard`: the admins' Telegram dashboard (long polling).
//! Exit codes: 0 stopped cleanly, 1 failed, 2 bad usage or configuration
//! (including no bot token).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lifeboat_core::{CancellationToken, Config, exit, service};
use lifeboat_dashboard::handlers::Command;
use lifeboat_dashboard::{App, redact, schema};
use teloxide::dispatching::ShutdownToken;
use teloxide::error_handlers::ErrorHandler;
use teloxide::prelude::*;
use teloxide::types::BotCommand;
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;

/// The admins' Telegram dashboard for Lifeboat backups.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Config file (TOML); defaults to LIFEBOAT_CONFIG, then built-in defaults.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    lifeboat_core::logging::init("info");
    let cfg = match Config::load(args.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => return usage(&e.to_string()),
    };
    if !cfg.delivery_enabled() {
        return usage(
            "no bot token: set telegram.token or telegram.token_file in the config (or LIFEBOAT__TELEGRAM__TOKEN); \
             the dashboard cannot run without one",
        );
    }
    if cfg.telegram.admin_ids.is_empty() && cfg.telegram.owner_id == 0 {
        return usage(
            "nobody may use the dashboard: telegram.admin_ids is empty and telegram.owner_id is 0; add your numeric \
             Telegram user id",
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat-dashboard: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE as u8);
        }
    };
    match runtime.block_on(run(cfg.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lifeboat-dashboard: {}", redact(&format!("{e:#}"), &cfg));
            ExitCode::from(exit::FAILURE as u8)
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("lifeboat-dashboard: {message}");
    ExitCode::from(exit::USAGE as u8)
}

/// The long poll; Telegram::bot()'s client waits longer.
const POLL_SECS: u64 = 10;

async fn run(cfg: Config) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let app = App::new(cfg.clone(), cancel.clone());
    // A client that waits longer than the long poll; never log it (its
    // Debug prints the token).
    let bot =
        app.telegram.as_ref().map(|tg| tg.bot()).context("cannot set up the Telegram client (see the log above)")?;

    // The Bot API documents names without the slash the derive puts in front.
    let commands =
        Command::bot_commands().into_iter().map(|c| BotCommand::new(c.command.trim_start_matches('/'), c.description));
    bot.set_my_commands(commands)
        .await
        .map_err(|e| anyhow::anyhow!("{}", redact(&e.to_string(), &cfg)))
        .context("cannot reach the Bot API (setMyCommands); check telegram.token, telegram.api_url and the network")?;

    let mut dispatcher = Dispatcher::builder(bot.clone(), schema())
        .dependencies(dptree::deps![app.clone()])
        .default_handler(|_| async {})
        .error_handler(Arc::new(Redacting { cfg: cfg.clone(), what: "a handler failed" }))
        .build();
    tokio::spawn(stop_on_signal(dispatcher.shutdown_token(), cancel.clone()));

    tokio::spawn(service::keep_watchdog(cancel.clone()));
    service::ready();
    let listener = Polling::builder(bot).timeout(Duration::from_secs(POLL_SECS)).delete_webhook().await.build();
    tracing::info!(admins = cfg.telegram.admin_ids.len(), owner = cfg.telegram.owner_id, "dashboard polling");
    dispatcher
        .try_dispatch_with_listener(listener, Arc::new(Redacting { cfg: cfg.clone(), what: "polling failed" }))
        .await
        .map_err(|e| anyhow::anyhow!("{}", redact(&e.to_string(), &cfg)))
        .context("cannot reach the Bot API (getMe); check telegram.token, telegram.api_url and the network")?;
    cancel.cancel();
    service::stopping();
    if !app.wait_idle(Duration::from_secs(120)).await {
        tracing::warn!("a backup or restore was still stopping after 120 s; exiting anyway");
    }
    tracing::info!("dashboard stopped");
    Ok(())
}

/// SIGTERM (systemd's stop) and SIGINT both stop polling and cancel a
/// running backup or restore; teloxide's own handler covers only SIGINT.
async fn stop_on_signal(token: ShutdownToken, cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot listen for SIGTERM/SIGINT");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    cancel.cancel();
    // The dispatcher may not be running yet (still calling getMe).
    loop {
        match token.shutdown() {
            Ok(done) => {
                done.await;
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Logs errors with the token cut out: teloxide's errors may carry the
/// request URL, which contains it.
struct Redacting {
    cfg: Config,
    what: &'static str,
}

impl<E: std::fmt::Debug + Send + 'static> ErrorHandler<E> for Redacting {
    fn handle_error(self: Arc<Self>, error: E) -> futures_like::BoxFuture<'static, ()> {
        let line = redact(&format!("{error:?}"), &self.cfg);
        let what = self.what;
        Box::pin(async move { tracing::error!("{what}: {line}") })
    }
}

mod futures_like {
    pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
}
