//! One backup run: snapshot every configured database, check it, write the
//! archive under a temporary name, verify it, then rename (or split) it.
//! The caller holds the [`crate::lock::CycleLock`]. OWNER: H1.

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::catalog::StoredArchive;
use crate::config::Config;
use crate::manifest::{Manifest, SkippedDatabase, Trigger};
use crate::state::{RunStatus, State};

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
        /// Name.
        name: String,
        /// Skipped with this reason.
        skipped: Option<String>,
    },
    /// Bytes compressed so far, over all databases.
    Compressed {
        /// Done.
        done: u64,
        /// Total.
        total: u64,
    },
    /// Verifying the written archive.
    Verifying,
    /// Finished.
    Finished,
}

/// How to run.
pub struct BackupOptions<'a> {
    /// What started it.
    pub trigger: Trigger,
    /// Only these databases (pre-restore safety snapshots); None = all configured.
    pub only: Option<&'a [String]>,
    /// Progress callback.
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
    /// Its manifest.
    pub manifest: Manifest,
    /// The run's id in the state database.
    pub run_id: i64,
    /// Ok or Partial.
    pub status: RunStatus,
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
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The written archive did not verify.
    #[error("the written archive did not verify: {0}")]
    Verify(String),
    /// The state database.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// Runs one backup.
pub fn run(cfg: &Config, state: &State, opts: BackupOptions<'_>) -> Result<BackupOutcome, BackupError> {
    let _ = (cfg, state, opts);
    unimplemented!("H1")
}
