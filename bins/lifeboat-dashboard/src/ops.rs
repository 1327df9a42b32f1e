//! The work behind the buttons that changes things, done by the other
//! crates: the backup cycle (lifeboat-telegram's `cycle`), re-sending an
//! archive (lifeboat-telegram), restore (lifeboat-core's `restore`).
//! Kept here so the handlers do not depend on those crates' shapes.

use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::lock::{CycleLock, LockError};
use lifeboat_core::restore::{self, RestorePlan, RestoreRequest};
use lifeboat_core::state::State;
use lifeboat_core::{CancellationToken, Config, Trigger, exit};
use lifeboat_cycle::{self as cycle, CycleError};
use lifeboat_telegram::Telegram;

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
    Done(lifeboat_core::restore::RestoreOutcome),
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

/// Sends `archive` to `chat`, by file_id when Telegram already has it.
pub async fn resend(
    tg: &Telegram,
    cfg: &Config,
    chat: i64,
    archive: &StoredArchive,
    cancel: &CancellationToken,
) -> Result<(), String> {
    tg.send_archive_to(cfg, chat, archive, cancel).await.map(|_| ()).map_err(|e| tg.scrub(&e.to_string()))
}

/// What restoring `archive` into the live databases would replace, in words.
/// Blocking.
pub fn restore_plan(cfg: &Config, archive: &str) -> Result<RestorePlan, String> {
    use lifeboat_core::seal::KeyError;
    use lifeboat_core::verify::VerifyError;
    restore::plan(cfg, &request(archive)).map_err(|e| match e {
        restore::RestoreError::Verify(VerifyError::Key(KeyError::NoIdentity { archive })) => format!(
            "{archive} is sealed with age, and this server holds no key to open it (by design: only the public keys are here). \
             Restore it from the server's command line with the private key: \
             lifeboat restore {archive} --identity key.txt"
        ),
        e => e.to_string(),
    })
}

fn request(archive: &str) -> RestoreRequest {
    // Names only: the dashboard never restores from an arbitrary path.
    // Never `force_schema`: replacing a database with another application's
    // is decided at the server, with the plan in front of the operator.
    RestoreRequest { archive: archive.to_string(), only: Vec::new(), to: None, force_schema: false }
}

/// Carries out the plan the owner confirmed, under the cycle lock. If the
/// archive changed since, `execute` refuses. Blocking.
pub fn restore(cfg: &Config, plan: &RestorePlan, who: &str, cancel: &CancellationToken) -> RestoreResult {
    // The same lock as every cycle: no backup reads the databases meanwhile.
    let _lock = match CycleLock::try_acquire(&cfg.lock_path(), who) {
        Ok(lock) => lock,
        Err(LockError::Busy { holder }) => return RestoreResult::Busy(holder),
        Err(e) => return RestoreResult::Failed(e.to_string()),
    };
    let state = match State::open_for(cfg) {
        Ok(s) => s,
        Err(e) => return RestoreResult::Failed(e.to_string()),
    };
    match restore::execute(cfg, &state, plan, cancel) {
        Ok(outcome) => RestoreResult::Done(outcome),
        Err(e) => RestoreResult::Failed(e.to_string()),
    }
}
