//! Continuous protection of the SQLite databases (`[continuous]`): every
//! few seconds the committed changes of each database become an increment
//! in `output_dir/continuous/NAME/`, and `restore --at TIME` rebuilds any
//! captured moment.
//!
//! Lifeboat never writes into the bot's database or changes its journal
//! mode or checkpoints: it reads the `-wal` file (and `-shm`'s header)
//! without SQLite, and takes consistent snapshots through SQLite's backup
//! API, read-only, like an archive does.
//!
//! - [`wal`]: the WAL file format, read and checked.
//! - [`increment`]: an increment's file (format, name, sealing).
//! - [`mod@capture`]: one capture of one database.
//! - [`mod@rebuild`]: which increments reach a moment, and rebuilding it.
//! - [`proof`]: each scheduled archive's snapshot against the chain.
//!
//! Files: `output_dir/continuous/NAME/gGGGGGG-SSSSSSSSSS-TIME.inc[.age]`,
//! the increments (G the chain, S its sequence, TIME when captured), and
//! `output_dir/.lifeboat/continuous/NAME`, the database as the newest
//! increment rebuilds it (never offered for restore itself: it is what the
//! next page diff is made against, and what each page of the next
//! increment is stored as a difference from). Retention ([`prune`])
//! removes whole chains older than `continuous.keep_days`.

pub mod capture;
pub mod increment;
pub mod proof;
pub mod rebuild;
pub mod setup;
pub mod wal;

use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use capture::{Captured, capture};
pub use proof::ChainProof;
pub use rebuild::{ChainCheck, Reach, Rebuilt, Span, check_chains, reach, rebuild, span};
pub use setup::Setup;
pub use wal::WalPosition;

use crate::snapshot::SkipReason;
use crate::state::StateError;

/// The folder under `output_dir` holding the increments.
pub const FOLDER: &str = "continuous";

/// Where one database's continuous files are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Its name in `backup.databases`.
    pub name: String,
    /// The live database.
    pub db: PathBuf,
    /// `output_dir/continuous/NAME`: the increments.
    pub dir: PathBuf,
    /// `state_dir/continuous`: the shadow and scratch files.
    pub work: PathBuf,
    /// The database as the newest increment rebuilds it.
    pub shadow: PathBuf,
}

impl Paths {
    pub fn new(setup: &Setup, name: &str) -> Paths {
        let work = setup.state_dir.join(FOLDER);
        Paths {
            name: name.to_string(),
            db: setup.source_dir.join(name),
            dir: setup.output_dir.join(FOLDER).join(name),
            shadow: work.join(name),
            work,
        }
    }

    fn sidecar(&self, suffix: &str) -> PathBuf {
        let mut s = self.db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    }

    /// The live database's `-wal` file.
    pub fn wal(&self) -> PathBuf {
        self.sidecar("-wal")
    }

    /// The live database's `-shm` file.
    pub fn shm(&self) -> PathBuf {
        self.sidecar("-shm")
    }
}

/// Why a capture or a rebuild did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ContinuousError {
    /// The live database cannot be read (missing, locked, not a database).
    #[error("{name}: {reason}")]
    Unreadable { name: String, reason: SkipReason },
    /// Writing an increment failed (a full disk, a permission).
    #[error("cannot write {path}: {source}; free space or fix the permissions there, capture resumes by itself")]
    Write { path: PathBuf, source: std::io::Error },
    /// The WAL was reset (or its index rewritten) during every read of it.
    #[error(
        "{name}: its WAL was reset or its -shm index rewritten while it was read, {reads} times in a row; capture \
         tries again next interval"
    )]
    Restless { name: String, reads: u32 },
    /// Another file system error.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// An increment cannot be read.
    #[error(transparent)]
    Read(#[from] increment::ReadError),
    /// An increment does not follow the one before it.
    #[error(
        "{path} does not follow the increment before it (its chain hash or number differs): the chain is broken there; \
         moments after it cannot be rebuilt from this chain"
    )]
    Broken { path: PathBuf },
    /// An increment of a chain is missing.
    #[error(
        "{name}: increment {missing} after {after} is missing, so later moments cannot be rebuilt from this chain; \
         the newest moment reachable is {after}"
    )]
    Gap { name: String, after: DateTime<Utc>, missing: u64 },
    /// No chain reaches back to the moment asked.
    #[error(
        "{name}: no continuous increments reach back to {at}{}",
        match .earliest { Some(t) => format!("; the earliest moment reachable is {}", t.format("%Y-%m-%d %H:%M:%S%.3f UTC")), None => "; none were captured (is [continuous] enabled and the scheduler daemon running?)".to_string() }
    )]
    NotReached { name: String, at: DateTime<Utc>, earliest: Option<DateTime<Utc>> },
    /// The recorded position does not parse.
    #[error("{name}: the recorded capture position is damaged; the next capture starts a new chain")]
    BadPosition { name: String },
    /// A database past 2^32 pages.
    #[error("{name} has more pages than an increment can name")]
    TooLarge { name: String },
    #[error(transparent)]
    State(#[from] StateError),
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContinuousError {
    let context = context.into();
    move |source| ContinuousError::Io { context, source }
}

/// The outcome of capturing one database.
#[derive(Debug)]
pub struct DatabaseCapture {
    pub name: String,
    pub result: Result<Captured, ContinuousError>,
}

/// Captures every database in `backup.databases` once, each on its own.
pub fn capture_all(
    setup: &Setup,
    state: &crate::state::State,
    now: &dyn Fn() -> DateTime<Utc>,
) -> Vec<DatabaseCapture> {
    setup
        .databases
        .iter()
        .map(|name| DatabaseCapture { name: name.clone(), result: capture(setup, state, name, now) })
        .collect()
}

/// Removes the chains of `name` whose every moment is older than
/// `keep_days` before `now`: a chain's moments last until the next chain
/// starts, so a chain goes once the one after it started before the
/// cut-off. The newest chain always stays. Each file removed is first
/// recorded for every `[[destinations.s3]]`, which then delete their copy
/// ([`crate::state::State::retired_increments`]). Returns the files removed.
pub fn prune(
    setup: &Setup,
    state: &crate::state::State,
    name: &str,
    now: DateTime<Utc>,
) -> Result<usize, ContinuousError> {
    let dir = Paths::new(setup, name).dir;
    let all = increment::list(&dir).map_err(io_err(format!("cannot list {}", dir.display())))?;
    let cutoff = now - chrono::TimeDelta::days(setup.keep_days);
    let starts: Vec<(u32, DateTime<Utc>)> =
        all.iter().filter(|s| s.seq == 0).map(|s| (s.generation, s.captured_at)).collect();
    let stores = &setup.stores;
    let mut removed = 0;
    for s in &all {
        let next_start = starts.iter().filter(|(g, _)| *g > s.generation).map(|(_, t)| *t).min();
        // Increments of a chain whose full image is gone cannot be used either.
        let orphaned = !starts.iter().any(|(g, _)| *g == s.generation);
        if next_start.is_some_and(|t| t < cutoff) || (orphaned && next_start.is_some()) {
            let file = s.path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            state.retire_increment(stores, name, &file)?;
            std::fs::remove_file(&s.path).map_err(io_err(format!("cannot remove {}", s.path.display())))?;
            removed += 1;
        }
    }
    if removed > 0 {
        let _ = crate::fsutil::sync_dir(&dir);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
