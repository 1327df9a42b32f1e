//! What gets backed up. Each kind of source (SQLite databases today)
//! implements [`Source`]: a consistent copy, then a check of that copy,
//! before the backup compresses it into the archive.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::integrity::{self, IntegrityError};
use crate::manifest::TableCount;
use crate::snapshot::{self, SkipReason, Snapshot, SnapshotOptions};

/// What a check found in a good copy, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// "ok", or what the check said.
    pub integrity: String,
    /// Tables and their rows.
    pub tables: Vec<TableCount>,
}

/// One configured source.
pub trait Source: Send + Sync {
    /// Its name, also its entry in the archive.
    fn name(&self) -> &str;

    /// Bytes a copy will read, for progress; a guess is fine.
    fn size_hint(&self) -> u64;

    /// Takes one consistent copy into the new file `dest`. Sources are
    /// copied one at a time, so the bot never has two readers of ours.
    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason>;

    /// Checks a copy before it is archived; a bad copy is skipped with why.
    fn check(&self, snap: &Snapshot) -> Result<Checked, SkipReason>;
}

/// A live SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteSource {
    name: String,
    path: PathBuf,
    options: SnapshotOptions,
}

impl SqliteSource {
    /// The database `name` inside `dir`.
    pub fn new(dir: &Path, name: &str) -> SqliteSource {
        SqliteSource { name: name.to_string(), path: dir.join(name), options: SnapshotOptions::default() }
    }
}

fn len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

impl Source for SqliteSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn size_hint(&self) -> u64 {
        let mut wal = self.path.as_os_str().to_owned();
        wal.push("-wal");
        len(&self.path) + len(Path::new(&wal))
    }

    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason> {
        let mut snap = snapshot::take(&self.path, dest, &self.options)?;
        snap.name = self.name.clone();
        Ok(snap)
    }

    /// `PRAGMA integrity_check` and row counts, on the copy (never the live
    /// file, so the bot is not held up).
    fn check(&self, snap: &Snapshot) -> Result<Checked, SkipReason> {
        match integrity::check(&snap.path) {
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
            Err(e) => Err(SkipReason::Other(format!("cannot check the snapshot: {e}"))),
        }
    }
}

/// The sources `cfg` configures, in archive order; `only` narrows them to
/// those names (a pre-restore safety snapshot).
pub fn configured(cfg: &Config, only: Option<&[String]>) -> Vec<Box<dyn Source>> {
    let names = only.map(<[String]>::to_vec).unwrap_or_else(|| cfg.backup.databases.clone());
    names.iter().map(|n| Box::new(SqliteSource::new(&cfg.backup.source_dir, n)) as Box<dyn Source>).collect()
}
