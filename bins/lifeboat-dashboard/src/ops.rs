//! The work behind the buttons that changes things, done by the other
//! crates: the backup cycle (lifeboat-telegram's `cycle`), re-sending an
//! archive (lifeboat-telegram), restore (lifeboat-core's `restore`).
//! Kept here so the handlers do not depend on those crates' shapes.

use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::{CancellationToken, Config};

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
    Done(String),
    /// A cycle holds the lock.
    Busy(String),
    /// Not restored (or partly: the text says).
    Failed(String),
}

/// Runs one backup cycle with delivery, as the scheduler does.
pub async fn run_backup(cfg: &Config, cancel: CancellationToken) -> BackupResult {
    let _ = (cfg, cancel);
    BackupResult::Failed("the backup cycle is not part of this build yet".into())
}

/// Sends `archive` to `chat` (by file_id when Telegram already has it).
pub async fn resend(cfg: &Config, chat: i64, archive: &StoredArchive) -> Result<(), String> {
    let _ = (cfg, chat, archive);
    Err("re-sending is not part of this build yet".into())
}

/// What restoring `archive` into the live databases would replace, in words.
/// Blocking.
pub fn restore_plan(cfg: &Config, archive: &str) -> Result<String, String> {
    let _ = (cfg, archive);
    Err("restore is not part of this build yet".into())
}

/// Restores `archive` into the live databases under the cycle lock.
/// Blocking.
pub fn restore(cfg: &Config, archive: &str, who: &str, cancel: &CancellationToken) -> RestoreResult {
    let _ = (cfg, archive, who, cancel);
    RestoreResult::Failed("restore is not part of this build yet".into())
}
