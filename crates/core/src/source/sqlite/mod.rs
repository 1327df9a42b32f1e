//! A live SQLite database file, copied through SQLite's online backup API
//! (see [`crate::snapshot`]).

pub mod continuous;
mod kind;

pub(super) use kind::KIND;

use std::path::{Path, PathBuf};

use super::{Checked, Identity, Source};
use crate::integrity::{self, IntegrityError};
use crate::manifest::Kind;
use crate::snapshot::{self, SkipReason, Snapshot, SnapshotOptions};

/// A live SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    id: Identity,
    path: PathBuf,
    options: SnapshotOptions,
}

impl SqliteSource {
    /// The database `name` inside `dir`.
    pub fn new(dir: &Path, name: &str) -> SqliteSource {
        let id = Identity { entry: name.to_string(), source: name.to_string(), kind: Kind::Sqlite };
        SqliteSource { id, path: dir.join(name), options: SnapshotOptions::default() }
    }
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

impl Source for SqliteSource {
    fn identity(&self) -> &Identity {
        &self.id
    }

    fn size_hint(&self) -> u64 {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        len(&self.path) + len(Path::new(&wal))
    }

    fn preflight(&self) -> Result<(), SkipReason> {
        snapshot::preflight(&self.path)
    }

    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason> {
        let mut snap = snapshot::take(&self.path, dest, &self.options)?;
        snap.name = self.id.entry.clone();
        Ok(snap)
    }
}

/// `PRAGMA integrity_check` and row counts, on a copy (never the live file,
/// so the bot is not held up).
pub(super) fn check(path: &Path) -> Result<Checked, SkipReason> {
    match integrity::check(path) {
        Ok(r) if r.ok => Ok(Checked { integrity: r.summary(), tables: r.tables }),
        Ok(r) => Err(SkipReason::Corrupt(format!("integrity_check: {}", r.summary()))),
        Err(IntegrityError::Sqlite(e))
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ) =>
        {
            Err(SkipReason::Corrupt(e.to_string()))
        }
        Err(e) => Err(SkipReason::Unchecked(e)),
    }
}
