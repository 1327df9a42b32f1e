//! The work behind the buttons that changes things, done by the other
//! crates: the backup cycle (lifeboat-telegram's `cycle`), re-sending an
//! archive (lifeboat-telegram), restore (lifeboat-core's `restore::chat`,
//! the rules the Discord bot shares).
//! Kept here so the handlers do not depend on those crates' shapes.

use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::{CancellationToken, Trigger, exit};
use lifeboat_cycle::{self as cycle, CycleError};
use lifeboat_engine::Config;
use lifeboat_engine::restore::RestorePlan;
use lifeboat_engine::restore::chat::{self, ChatPlanError, ChatRestore};
use lifeboat_telegram::{SendError, Telegram};

/// How a "Backup now" ended.
#[derive(Debug, Clone)]
pub enum BackupResult {
    /// The cycle ran; `ok` is false for partial or failed deliveries.
    Done {
        /// The cycle's summary.
        summary: String,
        /// Exit code 0.
        ok: bool,
    },
    /// Another cycle holds the lock.
    Busy(String),
    /// It could not run.
    Failed(String),
}

/// How a restore ended.
#[derive(Debug, Clone)]
pub enum RestoreResult {
    /// Restored; what was done.
    Done(lifeboat_engine::restore::RestoreOutcome),
    /// A cycle holds the lock.
    Busy(String),
    /// Not restored (or partly: the text says).
    Failed(String),
}

/// Runs one backup cycle with delivery, as the scheduler does.
pub async fn run_backup(cfg: &Config, cancel: CancellationToken) -> BackupResult {
    // A task of its own, so a panic inside the cycle is reported, not fatal.
    let cfg = cfg.clone();
    let ran = tokio::spawn(async move { cycle::run_cycle(&cfg, Trigger::Dashboard, cancel).await }).await;
    let ran = match ran {
        Ok(r) => r,
        Err(e) => return BackupResult::Failed(format!("the backup task failed: {e}")),
    };
    match ran {
        Ok(report) => BackupResult::Done { summary: report.summary(), ok: report.exit_code() == exit::SUCCESS },
        Err(CycleError::Busy { holder }) => BackupResult::Busy(holder),
        Err(e) => BackupResult::Failed(e.to_string()),
    }
}

/// Sends `archive` to `chat`, by file_id when Telegram already has it. The
/// error's reason holds no token.
pub async fn resend(
    tg: &Telegram,
    cfg: &Config,
    chat: i64,
    archive: &StoredArchive,
    cancel: &CancellationToken,
) -> Result<(), SendError> {
    tg.send_archive_to(&cfg.surroundings(), chat, archive, cancel)
        .await
        .map(|_| ())
        .map_err(|e| SendError { reason: tg.scrub(&e.reason), ..e })
}

/// What restoring `archive` into the live databases would replace, in words.
/// Blocking.
pub fn restore_plan(cfg: &Config, archive: &str) -> Result<RestorePlan, ChatPlanError> {
    // Every configured database: the dashboard has no `--only`.
    chat::plan(cfg, archive, Vec::new())
}

/// Carries out the plan the owner confirmed, under the cycle lock. If the
/// archive changed since, `execute` refuses. Blocking.
pub fn restore(cfg: &Config, plan: &RestorePlan, who: &str, cancel: &CancellationToken) -> RestoreResult {
    match chat::execute(cfg, plan, who, cancel) {
        ChatRestore::Done(outcome) => RestoreResult::Done(outcome),
        ChatRestore::Busy(holder) => RestoreResult::Busy(holder),
        ChatRestore::Failed(why) => RestoreResult::Failed(why.to_string()),
    }
}
