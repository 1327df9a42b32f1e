//! One module per subcommand. Each returns the exit code of a finished
//! run (0, 1 for a failed check, 3 partial); errors become an exit code in
//! [`exit_code_of`].

mod backup;
mod demo;
mod diagnose;
mod diff;
mod dry_run;
mod export;
mod fetch;
mod list;

mod pin;
mod prune;
mod restore;
mod salvage;
mod status;
mod verify;

use anyhow::Result;
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::state::State;
use lifeboat_core::{CancellationToken, exit};
use lifeboat_cycle::CycleError;
use lifeboat_engine::Config;
use lifeboat_engine::config::{CONFIG_ENV, ConfigError, SYSTEM_CONFIG, SecretsNeeded};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::{Cli, Command};

/// A usage problem found after parsing (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The signal that stopped this process's command, 0 while none came.
static STOPPED_BY: AtomicI32 = AtomicI32::new(0);

/// 128 + the signal that stopped the command, if one did.
pub(crate) fn stopped_code() -> Option<i32> {
    let signal = STOPPED_BY.load(Ordering::SeqCst);
    (signal != 0).then_some(exit::INTERRUPTED_BASE + signal)
}

/// Maps an error chain to the exit code: a command stopped by a signal →
/// 128 + its number (Ctrl-C: 130), configuration and usage → 2, another
/// cycle holding the lock → 4, the rest → 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    if let Some(code) = stopped_code() {
        code
    } else if err.chain().any(|e| e.downcast_ref::<ConfigError>().is_some() || e.downcast_ref::<UsageError>().is_some())
    {
        exit::USAGE
    } else if err.chain().any(|e| {
        matches!(e.downcast_ref::<LockError>(), Some(LockError::Busy { .. }))
            || matches!(e.downcast_ref::<CycleError>(), Some(CycleError::Busy { .. }))
    }) {
        exit::BUSY
    } else {
        exit::FAILURE
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<i32> {
    // A command reads the secrets it uses: on a server being rebuilt, the
    // bot token and the database passwords are not back yet when the
    // archives are listed, fetched, checked and restored.
    let needed = match &cli.command {
        Command::List(_)
        | Command::Fetch(_)
        | Command::Verify(_)
        | Command::Restore(_)
        | Command::Diff(_)
        | Command::Export(_)
        | Command::Salvage(_)
        | Command::Status(_) => SecretsNeeded::WhenUsed,
        _ => SecretsNeeded::All,
    };
    let mut cfg = Config::load_with(cli.config.as_deref(), needed)?;
    let identity = match &cli.command {
        Command::Verify(a) => a.identity.as_deref(),
        Command::Restore(a) => a.identity.as_deref(),
        Command::Fetch(a) => a.identity.as_deref(),
        Command::Salvage(a) => a.identity.as_deref(),
        Command::Diff(a) => a.identity.as_deref(),
        Command::Export(a) => a.identity.as_deref(),
        _ => None,
    };
    if let Some(file) = identity {
        cfg.encryption.keys.set_identity_file(file).map_err(|e| UsageError(format!("--identity {e}")))?;
    }
    for unread in cfg.unread_secrets() {
        // --identity stands in for the configured key.
        if identity.is_none() || unread.key != "encryption.identity_file" {
            eprintln!("warning: {unread}; going on without it: only what uses it stops");
        }
    }
    // Without a file, `lifeboat list` in the wrong folder would quietly say
    // "no archives": say where it looked instead. The demo means to use the
    // defaults.
    if cfg.file.is_none() && !matches!(cli.command, Command::Demo(_)) {
        eprintln!(
            "note: no configuration file (no --config, no {CONFIG_ENV}, no {SYSTEM_CONFIG}); using the built-in \
             defaults: databases in {}, archives in {}",
            cfg.backup.source_dir.display(),
            cfg.backup.output_dir.display()
        );
    }
    match cli.command {
        Command::Backup(a) => backup::backup(&cfg, &a),
        Command::List(a) if a.remote.is_some() => fetch::list_remote(&cfg, &a),
        Command::List(a) => list::list(&cfg, &a),
        Command::Fetch(a) => fetch::fetch(&cfg, &a),
        Command::Verify(a) => verify::verify(&cfg, &a),
        Command::Restore(a) => restore::restore(&cfg, &a),
        Command::Diff(a) => diff::diff(&cfg, &a),
        Command::Export(a) => export::export(&cfg, &a),
        Command::Status(a) => status::status(&cfg, &a),
        Command::Diagnose(a) => diagnose::diagnose(&cfg, &a),
        Command::Demo(a) => demo::demo(&cfg, &a),
        Command::Pin(a) => pin::pin(&cfg, &a),
        Command::Unpin(a) => pin::unpin(&cfg, &a),
        Command::Prune(a) => prune::prune(&cfg, &a),
        Command::Salvage(a) => salvage::salvage(&cfg, &a),
        Command::Metrics(a) => {
            let state = existing_state(&cfg)?;
            let now = chrono::Utc::now();
            if a.json {
                let samples = lifeboat_engine::metrics::samples(&cfg, state.as_ref(), now)?;
                crate::json::print(&crate::json::metrics(&samples))?;
            } else {
                print!("{}", lifeboat_engine::metrics::render(&cfg, state.as_ref(), now)?);
            }
            Ok(exit::SUCCESS)
        }
        Command::Completions { .. } | Command::Manpages { .. } => unreachable!("handled before the configuration"),
    }
}

/// Ctrl-C or SIGTERM cancels the token; the core stops between steps and
/// leaves nothing partial behind.
pub(crate) fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    on_signal(move || t.cancel());
    token
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

/// Runs `f` on the first Ctrl-C or SIGTERM. Returns once the handlers are
/// installed, so a signal from then on never takes the default action
/// (dying without cleaning up).
pub(crate) fn on_signal(f: impl FnOnce() + Send + 'static) {
    let (ready, installed) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
                else {
                    return;
                };
                let _ = ready.send(());
                let signal = tokio::select! {
                    _ = int.recv() => SIGINT,
                    _ = term.recv() => SIGTERM,
                };
                STOPPED_BY.store(signal, Ordering::SeqCst);
            }
            #[cfg(not(unix))]
            {
                let _ = ready.send(());
                let _ = tokio::signal::ctrl_c().await;
                STOPPED_BY.store(SIGINT, Ordering::SeqCst);
            }
            eprintln!("stopping: interrupted");
            f();
        });
    });
    let _ = installed.recv_timeout(std::time::Duration::from_secs(5));
}

/// For commands that cannot stop between steps but hold copies of the bot's
/// data in the system temporary folder: on Ctrl-C or SIGTERM, remove this
/// process's folders (named `prefix…`) and exit with 128 + the signal.
///
/// The command keeps running meanwhile: removing its folder is what cuts
/// its work short (verify stops extracting once its folder is gone), but it
/// may still write into a folder being emptied, or make a new one (diagnose
/// takes one per database). So the folders are removed in passes until the
/// command has stopped (it calls [`yield_to_signal_handler`]) or a few
/// seconds have passed, and once more after that.
pub(crate) fn exit_on_signal_removing_scratch(prefix: String, command: &'static str) {
    on_signal(move || {
        let remove_ours = || {
            for e in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    // A file made while the folder is emptied fails the pass.
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !COMMAND_YIELDED.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
            remove_ours();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        remove_ours();
        eprintln!("error: {command} interrupted; nothing was changed");
        std::process::exit(exit::INTERRUPTED_BASE + STOPPED_BY.load(Ordering::SeqCst));
    });
}

/// Set once a command stopped by a signal has finished its work and waits
/// for the handler to exit.
static COMMAND_YIELDED: AtomicBool = AtomicBool::new(false);

/// Called when work that a signal may have cut short is done: if a signal
/// came, its handler is removing the scratch folders (which is what cut the
/// work short) and exits with 128 + the signal. Wait for it instead of
/// reporting on the damaged work.
pub(crate) fn yield_to_signal_handler() {
    if STOPPED_BY.load(Ordering::SeqCst) != 0 {
        COMMAND_YIELDED.store(true, Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }
}

/// A core error from reading rows: a mistake in what was asked is a usage
/// error (exit 2), the rest a failure.
pub(crate) fn rows_error(e: lifeboat_engine::rows::RowsError) -> anyhow::Error {
    if e.is_usage() { UsageError(lifeboat_about::error_text(&e)).into() } else { e.into() }
}

pub(crate) fn take_lock(cfg: &Config, what: &str) -> Result<CycleLock> {
    CycleLock::try_acquire(&cfg.lock_path(), what).map_err(|e| match e {
        LockError::Busy { .. } => anyhow::Error::new(e).context("cannot start now"),
        other => anyhow::Error::new(other),
    })
}

/// Opens the state database only if it exists: read-only commands never
/// create Lifeboat's folder.
pub(crate) fn existing_state(cfg: &Config) -> Result<Option<State>> {
    if cfg.state_path().exists() { Ok(Some(cfg.open_state()?)) } else { Ok(None) }
}
