//! `lifeboat-discord`: Lifeboat's Discord bot (gateway and slash commands).
//! Exit codes: 0 stopped cleanly, 1 failed, 2 bad usage or configuration
//! (including no bot token, or Discord refusing it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use clap::Parser;
use lifeboat_core::{CancellationToken, exit, service};
use lifeboat_discord::{App, commands, discord};
use lifeboat_engine::Config;
use twilight_gateway::{CloseFrame, Event, EventTypeFlags, StreamExt as _};

/// Lifeboat's Discord bot: back up, list and restore with slash commands.
#[derive(Debug, Parser)]
#[command(version = lifeboat_about::VERSION, about)]
struct Args {
    /// Config file (TOML); without it, LIFEBOAT_CONFIG, then /etc/lifeboat/lifeboat.toml, then the built-in defaults.
    #[arg(long, short = 'c', value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print this manual page (roff) and exit; the package installs it as lifeboat-discord(8).
    #[arg(long, hide = true)]
    manpage: bool,
}

const EXAMPLES: &[(&str, &str)] = &[
    (
        "systemctl enable --now lifeboat-discord.service",
        "The bot, as installed: admins use /backup and /backups, the owner /restore.",
    ),
    ("lifeboat-discord -c /etc/lifeboat/lifeboat.toml", "In the foreground, e.g. to watch its log while testing."),
];

/// Gateway close codes after which reconnecting cannot help.
const FATAL_CLOSE: &[(u16, &str)] = &[
    (
        4004,
        "Discord refused the bot token: put the current one (Developer Portal → Bot → Reset Token) in discord.token_file",
    ),
    (4010, "Discord refused the shard"),
    (4011, "Discord wants the bot sharded, which a backup bot in so many servers should not be"),
    (4012, "Discord refused the gateway version"),
    (4013, "Discord refused the intents"),
    (4014, "Discord refused an intent this application may not use"),
];

/// Why the bot stopped.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Connect(#[from] discord::ConnectError),
    /// The gateway closed for good.
    #[error("the gateway closed the connection ({code}): {why}")]
    Closed { code: u16, why: &'static str },
    /// The gateway stream ended.
    #[error("the gateway connection ended and cannot be resumed; check discord.api_url and the network")]
    Ended,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.manpage {
        use clap::CommandFactory as _;
        let see_also = ["lifeboat(1)", "lifeboat.toml(5)", "lifeboat-scheduler(8)", "lifeboat-dashboard(8)"];
        return lifeboat_about::print_daemon_page(Args::command(), EXAMPLES, &see_also);
    }
    lifeboat_core::logging::init("info");
    let cfg = match Config::load(args.config.as_deref()) {
        Ok(cfg) => cfg,
        Err(e) => return usage(&e.to_string()),
    };
    if cfg.bots.discord.token.is_empty() {
        return usage(
            "no bot token: set discord.token_file to a file holding the bot's token (or \
             LIFEBOAT__DISCORD__TOKEN_FILE); the Discord bot cannot run without one",
        );
    }
    if cfg.bots.discord.admin_ids.is_empty() && cfg.bots.discord.owner_id == 0 {
        return usage(
            "nobody may use the bot: discord.admin_ids is empty and discord.owner_id is 0; add your numeric \
             Discord user id (Settings → Advanced → Developer Mode, then right-click yourself → Copy User ID)",
        );
    }
    // twilight's HTTPS and websocket clients take rustls's process-wide
    // provider: name it, so a second one linked in later cannot make their
    // first connection panic.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lifeboat-discord: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE as u8);
        }
    };
    match runtime.block_on(run(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (RunError::Closed { .. } | RunError::Connect(discord::ConnectError::ApiUrl { .. }))) => {
            usage(&e.to_string())
        }
        Err(RunError::Connect(discord::ConnectError::Gateway { source, .. }))
            if discord::status(&source) == Some(401) =>
        {
            usage(
                "Discord refused the bot token: put the current one (Developer Portal → Bot → Reset Token) in discord.token_file",
            )
        }
        Err(e) => {
            eprintln!("lifeboat-discord: {}", lifeboat_about::error_text(&e));
            ExitCode::from(exit::FAILURE as u8)
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("lifeboat-discord: {message}");
    ExitCode::from(exit::USAGE as u8)
}

async fn run(cfg: Config) -> Result<(), RunError> {
    let stop = CancellationToken::new();
    tokio::spawn(stop_on_signal(stop.clone()));
    let mut http = Some(discord::http_client(&cfg.bots.discord)?);
    let mut shard = discord::shard(&cfg.bots.discord, http.as_ref().expect("just made")).await?;
    let mut app: Option<Arc<App>> = None;
    let wanted = EventTypeFlags::READY | EventTypeFlags::RESUMED | EventTypeFlags::INTERACTION_CREATE;
    tokio::spawn(service::keep_watchdog(stop.clone()));
    let result = loop {
        let item = tokio::select! {
            item = shard.next_event(wanted) => item,
            () = stop.cancelled() => break Ok(()),
        };
        let event = match item {
            Some(Ok(event)) => event,
            Some(Err(e)) => {
                tracing::warn!("gateway: {e}; reconnecting");
                continue;
            }
            None => break Err(RunError::Ended),
        };
        match event {
            Event::Ready(ready) => {
                tracing::info!(session = %ready.session_id, "gateway ready");
                if app.is_none()
                    && let Some(http) = http.take()
                {
                    let made = App::new(cfg.clone(), http, ready.application.id);
                    register(&made).await;
                    service::ready();
                    tracing::info!(
                        admins = cfg.bots.discord.admin_ids.len(),
                        owner = cfg.bots.discord.owner_id,
                        "Discord bot listening"
                    );
                    app = Some(made);
                }
            }
            Event::Resumed => tracing::info!("gateway session resumed"),
            Event::InteractionCreate(interaction) => {
                if let Some(app) = &app {
                    app.work.spawn(commands::handle(app.clone(), interaction.0));
                }
            }
            Event::GatewayClose(Some(frame)) => {
                if let Some((code, why)) = FATAL_CLOSE.iter().find(|(c, _)| *c == frame.code) {
                    break Err(RunError::Closed { code: *code, why });
                }
                tracing::warn!(code = frame.code, "gateway closed the connection; reconnecting");
            }
            _ => {}
        }
    };
    service::stopping();
    shard.close(CloseFrame::NORMAL);
    if let Some(app) = app {
        app.cancel.cancel();
        app.work.close();
        if tokio::time::timeout(Duration::from_secs(120), app.work.wait()).await.is_err() {
            tracing::warn!("a backup or restore was still stopping after 120 s; exiting anyway");
        }
    }
    tracing::info!("Discord bot stopped");
    result
}

/// Registers the slash commands (global), retrying a while: without them
/// nobody can reach the bot, but it keeps running to answer old ones.
async fn register(app: &App) {
    let defs = commands::definitions();
    let client = app.http.interaction(app.application_id);
    let sent = (|| async { client.set_global_commands(&defs).await })
        .retry(ExponentialBuilder::default().with_min_delay(Duration::from_secs(1)).with_max_times(5))
        .when(discord::retryable)
        .await;
    match sent {
        Ok(_) => tracing::info!(commands = defs.len(), "slash commands registered"),
        Err(e) => tracing::error!("cannot register the slash commands: {e}"),
    }
}

/// SIGTERM (systemd's stop) and SIGINT both stop the bot and cancel a
/// running backup or restore.
async fn stop_on_signal(stop: CancellationToken) {
    service::stop_signal().await;
    stop.cancel();
}
