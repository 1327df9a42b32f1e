//! One backup run: snapshot every configured database, check it, write the
//! archive under a temporary name, verify it, then rename (or split) it.
//! The caller holds the [`lifeboat_core::lock::CycleLock`].

mod cleanup;
mod dry_run;
mod stages;

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use lifeboat_core::archive::ArchiveError;
use lifeboat_core::catalog::StoredArchive;
use lifeboat_core::manifest::{Manifest, SkippedDatabase, Trigger};
use lifeboat_core::state::{Level, RunEnd, RunStatus, State};
use stages::run_inner;

pub use dry_run::{DryRun, PlannedSource, dry_run};

/// Progress of a run, for a terminal progress bar.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// Starting: how many databases and their total bytes on disk.
    Started {
        /// Databases to back up.
        databases: usize,
        /// Their total size.
        total_bytes: u64,
    },
    /// A database's snapshot is done (or it was skipped).
    Snapshotted {
        name: String,
        /// Skipped with this reason.
        skipped: Option<String>,
    },
    /// Bytes compressed so far, over all databases.
    Compressed {
        done: u64,
        total: u64,
    },
    /// Verifying the written archive.
    Verifying,
    Finished,
}

/// How to run.
pub struct BackupOptions<'a> {
    pub trigger: Trigger,
    /// Only these databases (pre-restore safety snapshots); None = all configured.
    pub only: Option<&'a [String]>,
    pub progress: Option<&'a (dyn Fn(ProgressEvent) + Sync)>,
    /// Stops the run between steps; nothing partial is left behind.
    pub cancel: CancellationToken,
    /// The run's time: names the archive (UTC).
    pub now: DateTime<Utc>,
}

/// A finished run with an archive.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The archive as stored (whole or parts).
    pub archive: StoredArchive,
    pub manifest: Manifest,
    /// The run's id in the state database.
    pub run_id: i64,
    /// Ok or Partial.
    pub status: RunStatus,
    /// `[continuous]`: each SQLite database's chain against its snapshot
    /// here (scheduled archives only).
    pub chain_proofs: Vec<lifeboat_core::source::sqlite::continuous::ChainProof>,
}

/// A run that produced no archive.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Every database was skipped.
    #[error("nothing was backed up: {}", .skipped.iter().map(|s| format!("{}: {}", s.name, s.reason)).collect::<Vec<_>>().join("; "))]
    NothingBackedUp {
        /// Why each was skipped.
        skipped: Vec<SkippedDatabase>,
    },
    /// Stopped by a signal.
    #[error("interrupted; no archive was written")]
    Cancelled,
    /// The disk is full.
    #[error("no space left on the disk holding {0}; free space or lower retention.max_count, then run again")]
    DiskFull(std::path::PathBuf),
    /// Other I/O.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// Not a failure: no database changed since `archive` (the snapshots
    /// equal its databases byte for byte), so nothing was written.
    #[error("nothing changed since {archive}; no archive written")]
    Unchanged {
        /// The newest archive, which still holds exactly this data.
        archive: String,
    },
    /// The written archive could not be read back.
    #[error("the written archive could not be read back: {0}")]
    ReadBack(#[source] lifeboat_core::verify::VerifyError),
    /// The written archive did not verify.
    #[error("the written archive did not verify: {}", .0.join("; "))]
    Verify(Vec<String>),
    /// Writing the archive failed.
    #[error("writing the archive: {0}")]
    Archive(#[source] ArchiveError),
    #[error(transparent)]
    State(#[from] lifeboat_core::state::StateError),
    /// A `hooks.before` command failed: the cycle was skipped, nothing
    /// was backed up or sent.
    #[error("the cycle was skipped: {0}")]
    HookRefused(#[source] Box<crate::hooks::HookError>),
}

/// Prefix of the private working folders inside `output_dir`; a folder with
/// this prefix is a leftover of a crashed run once the cycle lock is held.
pub const WORK_PREFIX: &str = ".lifeboat-work-";

/// Runs one backup. The caller holds the [`lifeboat_core::lock::CycleLock`].
pub fn run(cfg: &Config, state: &State, opts: BackupOptions<'_>) -> Result<BackupOutcome, BackupError> {
    run_with(cfg, state, opts, false)
}

/// [`run`], except that when no database changed since the newest archive
/// nothing is written: [`BackupError::Unchanged`], recorded as an
/// `unchanged` run. "Changed" is decided on the snapshots' bytes (sha256),
/// so a write still in the `-wal` file is a change.
pub fn run_unless_unchanged(
    cfg: &Config,
    state: &State,
    opts: BackupOptions<'_>,
) -> Result<BackupOutcome, BackupError> {
    run_with(cfg, state, opts, true)
}

fn run_with(
    cfg: &Config,
    state: &State,
    opts: BackupOptions<'_>,
    skip_unchanged: bool,
) -> Result<BackupOutcome, BackupError> {
    let clock = Instant::now();
    // Under the cycle lock no other run is live: one still "running" was
    // killed (SIGKILL, power loss). Closed here, as its files are in
    // remove_leftovers, so every caller (CLI, demo, restore) cleans up.
    let closed = state.close_abandoned_runs(opts.now)?;
    if closed > 0 {
        let msg = format!("{closed} run(s) left running by a stopped process marked interrupted");
        tracing::warn!("{msg}");
        state.log_event(Level::Warn, "backup", &msg, opts.now)?;
    }
    let run_id = state.begin_run(opts.trigger, opts.now)?;
    let result = run_inner(cfg, state, &opts, run_id, skip_unchanged).map_err(|e| match e {
        // The state database lives in output_dir too: its full disk is the
        // same full disk, and the user needs the same advice.
        BackupError::State(s) if is_state_disk_full(&s) => BackupError::DiskFull(cfg.backup.output_dir.clone()),
        e => e,
    });
    let at = opts.now + chrono::Duration::from_std(clock.elapsed()).unwrap_or_default();
    match &result {
        Ok(out) => {
            let skipped = &out.manifest.skipped;
            let detail = (!skipped.is_empty()).then(|| skip_summary(skipped));
            let end = RunEnd {
                archive: Some(out.archive.name.clone()),
                size: Some(out.archive.size),
                databases_ok: out.manifest.databases.len() as u32,
                databases_skipped: skipped.len() as u32,
                verified: true,
                detail: detail.clone(),
            };
            state.finish_run(run_id, out.status, &end, at)?;
            state.remember_manifest(&out.archive.name, &out.manifest)?;
            let parts = if out.archive.files.len() > 1 {
                format!(" in {} parts", out.archive.files.len())
            } else {
                String::new()
            };
            let msg = format!(
                "backup {} ({}, {} bytes{parts}, {} database(s) in {:.1} s){}",
                out.archive.name,
                out.status.as_str(),
                out.archive.size,
                out.manifest.databases.len(),
                clock.elapsed().as_secs_f64(),
                detail.map(|d| format!("; skipped: {d}")).unwrap_or_default()
            );
            if skipped.is_empty() {
                tracing::info!(run_id, "{msg}");
                state.log_event(Level::Info, "backup", &msg, at)?;
            } else {
                tracing::warn!(run_id, "{msg}");
                state.log_event(Level::Warn, "backup", &msg, at)?;
            }
        }
        Err(e) => {
            if let BackupError::Unchanged { archive } = e {
                let end = RunEnd { archive: Some(archive.clone()), verified: true, ..RunEnd::default() };
                state.finish_run(run_id, RunStatus::Unchanged, &end, at)?;
                let msg = format!("nothing changed since {archive}: no archive written");
                tracing::info!(run_id, "{msg}");
                state.log_event(Level::Info, "backup", &msg, at)?;
                if let Some(p) = opts.progress {
                    p(ProgressEvent::Finished);
                }
                return result;
            }
            let (status, skipped) = match e {
                BackupError::Cancelled => (RunStatus::Interrupted, 0),
                BackupError::NothingBackedUp { skipped } => (RunStatus::Failed, skipped.len() as u32),
                _ => (RunStatus::Failed, 0),
            };
            let end = RunEnd { databases_skipped: skipped, detail: Some(e.to_string()), ..RunEnd::default() };
            // The run's own error matters more than a state error here.
            let _ = state.finish_run(run_id, status, &end, at);
            let msg = format!("backup failed: {e}");
            // The error is returned; the caller reports it (the CLI prints
            // it, the scheduler logs and alerts), so it is not printed twice.
            tracing::info!(run_id, "{msg}");
            let _ = state.log_event(Level::Error, "backup", &msg, at);
        }
    }
    if let Some(p) = opts.progress {
        p(ProgressEvent::Finished);
    }
    result
}

fn skip_summary(skipped: &[SkippedDatabase]) -> String {
    skipped.iter().map(|s| format!("{}: {}", s.name, s.reason)).collect::<Vec<_>>().join("; ")
}

/// Maps an I/O error to [`BackupError`], telling a full disk apart.
fn io_error(dir: &Path, context: String, source: std::io::Error) -> BackupError {
    if is_disk_full(&source) { BackupError::DiskFull(dir.to_path_buf()) } else { BackupError::Io { context, source } }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    const ENOSPC: i32 = 28;
    const EDQUOT: i32 = 122;
    e.kind() == std::io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
}

fn is_state_disk_full(e: &lifeboat_core::state::StateError) -> bool {
    use lifeboat_core::state::StateError;
    let sql = match e {
        StateError::DiskFull { .. } => return true,
        StateError::Sql(s) | StateError::Open { source: s, .. } => s,
        StateError::Folder { source, .. } => return is_disk_full(source),
        StateError::TooNew { .. } => return false,
    };
    sql.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

fn archive_error(dir: &Path, e: ArchiveError) -> BackupError {
    match e {
        ArchiveError::Cancelled => BackupError::Cancelled,
        e => match e.io_error() {
            Some(io) if is_disk_full(io) => BackupError::DiskFull(dir.to_path_buf()),
            _ => BackupError::Archive(e),
        },
    }
}
