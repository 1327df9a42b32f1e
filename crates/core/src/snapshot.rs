//! One point-in-time copy of a live database, taken through SQLite's online
//! backup API in a single step from a read-only connection, never by copying
//! the file. OWNER: snapshot helper (H1). Signatures are the contract.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How to take a snapshot.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// How long to wait for a writer holding the database before skipping it.
    pub lock_timeout: Duration,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        Self { lock_timeout: Duration::from_secs(30) }
    }
}

/// A finished snapshot file.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Database file name (as configured).
    pub name: String,
    /// Where the snapshot was written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The source's journal mode ("wal", "delete", ...), unchanged by us.
    pub journal_mode: String,
    /// Page size.
    pub page_size: u32,
}

/// Why a database was skipped, in words a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SkipReason {
    /// No such file.
    #[error("missing: {0} does not exist")]
    Missing(PathBuf),
    /// Not readable (permissions, I/O).
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// Zero bytes.
    #[error("empty file (0 bytes), not a database")]
    Empty,
    /// Not an SQLite file.
    #[error("not an SQLite database (wrong file header)")]
    NotSqlite,
    /// A writer held it longer than the timeout.
    #[error("locked by another process for more than {0} s; the bot may be stuck in a long transaction")]
    Locked(u64),
    /// integrity_check failed, or SQLite reported corruption.
    #[error("corrupt: {0}; run `lifeboat diagnose`, then restore it from an archive")]
    Corrupt(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Takes a snapshot of `source` into the new file `dest`.
pub fn take(source: &Path, dest: &Path, opts: &SnapshotOptions) -> Result<Snapshot, SkipReason> {
    let _ = (source, dest, opts);
    unimplemented!("H1")
}
