//! `lifeboat-dashboard`: the admins' Telegram dashboard (long polling).
//! Exit codes: 0 stopped cleanly, 1 failed, 2 bad usage or configuration
//! (including no bot token).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lifeboat_core::{CancellationToken, exit, service};
use lifeboat_dashboard::handlers::Command;
use lifeboat_dashboard::{App, redact, schema};
use lifeboat_engine::Config;
use teloxide::RequestError;
use teloxide::dispatching::ShutdownToken;
use teloxide::error_handlers::ErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{BotCommand, BotCommandScope, Recipient};
use teloxide::update_listeners::Polling;
use teloxide::utils::command::BotCommands;

/// The admins' Telegram dashboard for Lifeboat backups.
#[derive(Debug, Parser)]
#[command(version = lifeboat_about::VERSION, about)]
struct Args {
    /// Config file (TOML); without it, LIFEBOAT_CONFIG, then /etc/lifeboat/lifeboat.toml, then the built-in defaults.
    #[arg(long, short = 'c', value_name = "PATH")]
    config: Option<PathBuf>,
    /// Start even though the bot has a webhook set, and remove it. Only for
    /// a bot that is Lifeboat's alone: a webhook means another program
    /// receives this bot's updates.
    #[arg(long)]
    take_over_webhook: bool,
    /// Print this manual page (roff) and exit; the package installs it as lifeboat-dashboard(8).
    #[arg(long, hide = true)]
    manpage: bool,
}

const EXAMPLES: &[(&str, &str)] = &[
    (
        "systemctl enable --now lifeboat-dashboard.service",
        "The dashboard, as installed: admins send /admin to the bot.",
    ),
    ("lifeboat-dashboard -c /etc/lifeboat/lifeboat.toml", "In the foreground, e.g. to watch its log while testing."),
];

fn main() -> ExitCode {
    let args = Args::parse();
    if args.manpage {
        use clap::CommandFactory as _;
        let see_also = ["lifeboat(1)", "lifeboat.toml(5)", "lifeboat-scheduler(8)"];
        return lifeboat_about::print_daemon_page(Args::command(), EXAMPLES, &see_also);
    }
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
    match runtime.block_on(run(cfg.clone(), args.take_over_webhook)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<SharedBot>() => usage(&e.to_string()),
        Err(e) => {
            eprintln!("lifeboat-dashboard: {}", redact(&lifeboat_about::error_text(e.as_ref()), &cfg));
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

/// The token belongs to a bot another program serves.
#[derive(Debug)]
struct SharedBot {
    host: String,
}

impl std::fmt::Display for SharedBot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this bot has a webhook set (to {}): telegram.token is probably your own bot's token. The dashboard \
             would take its updates and commands away from it. Create a bot for Lifeboat alone with @BotFather \
             and put its token in telegram.token_file; if this bot really is Lifeboat's, start once with \
             --take-over-webhook",
            self.host
        )
    }
}

impl std::error::Error for SharedBot {}

/// Refuses a token whose bot is served elsewhere (a webhook is set), unless
/// told to take it over.
async fn check_bot_is_ours(bot: &Bot, cfg: &Config, take_over: bool) -> anyhow::Result<()> {
    let info =
        bot.get_webhook_info().await.map_err(|e| anyhow::anyhow!("{}", redact(&e.to_string(), cfg))).context(
            "cannot reach the Bot API (getWebhookInfo); check telegram.token, telegram.api_url and the network",
        )?;
    match info.url {
        Some(url) if !take_over => Err(SharedBot { host: url.host_str().unwrap_or("?").to_string() }.into()),
        Some(_) => {
            tracing::warn!("--take-over-webhook: removing this bot's webhook");
            Ok(())
        }
        None => Ok(()),
    }
}

/// `/admin` in the command menu of the admins and the owner only: the
/// default scope every user sees stays empty. A chat Telegram does not know
/// yet (an admin who never pressed Start) gets it on a later start.
async fn set_commands(bot: &Bot, cfg: &Config) -> anyhow::Result<()> {
    // The Bot API documents names without the slash the derive puts in front.
    let commands: Vec<BotCommand> = Command::bot_commands()
        .into_iter()
        .map(|c| BotCommand::new(c.command.trim_start_matches('/'), c.description))
        .collect();
    let mut people = cfg.telegram.admin_ids.clone();
    if cfg.telegram.owner_id != 0 && !people.contains(&cfg.telegram.owner_id) {
        people.push(cfg.telegram.owner_id);
    }
    let mut reached = 0;
    for id in people {
        let scope = BotCommandScope::Chat { chat_id: Recipient::Id(ChatId(id)) };
        match bot.set_my_commands(commands.clone()).scope(scope).await {
            Ok(_) => reached += 1,
            Err(RequestError::Api(e)) => tracing::warn!(chat = id, "cannot set the command menu: {e}"),
            Err(e) => {
                return Err(anyhow::anyhow!("{}", redact(&e.to_string(), cfg)))
                    .context("cannot reach the Bot API (setMyCommands); check telegram.api_url and the network");
            }
        }
    }
    tracing::info!("command menu set for {reached} admin chat(s)");
    Ok(())
}

async fn run(cfg: Config, take_over_webhook: bool) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let app = App::new(cfg.clone(), cancel.clone());
    // A client that waits longer than the long poll; never log it (its
    // Debug prints the token).
    let bot =
        app.telegram.as_ref().map(|tg| tg.bot()).context("cannot set up the Telegram client (see the log above)")?;

    check_bot_is_ours(&bot, &cfg, take_over_webhook).await?;
    set_commands(&bot, &cfg).await?;

    let bot = bot.throttle(teloxide::adaptors::throttle::Limits::default());
    let mut dispatcher = Dispatcher::builder(bot.clone(), schema())
        .dependencies(dptree::deps![app.clone()])
        .default_handler(|_| async {})
        .error_handler(Arc::new(Redacting { cfg: cfg.clone(), what: "a handler failed" }))
        .build();
    tokio::spawn(stop_on_signal(dispatcher.shutdown_token(), cancel.clone()));

    tokio::spawn(service::keep_watchdog(cancel.clone()));
    tokio::spawn(lifeboat_cycle::watch::run(cfg.clone(), cancel.clone(), "dashboard"));
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
    service::stop_signal().await;
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
