//! A live SQLite database file, copied through SQLite's online backup API
//! (see [`crate::snapshot`]).

use std::path::{Path, PathBuf};

use super::{Checked, Identity, LiveTarget, Source, SourceKind};
use crate::config::Config;
use crate::diagnose::Finding;
use crate::integrity::{self, IntegrityError};
use crate::manifest::{DatabaseEntry, Kind, Manifest};
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
fn check(path: &Path) -> Result<Checked, SkipReason> {
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

/// The SQLite kind: the databases `backup.databases` names inside
/// `backup.source_dir`.
pub(super) struct Sqlite;

pub(super) static KIND: Sqlite = Sqlite;

impl SourceKind for Sqlite {
    fn kind(&self) -> Kind {
        Kind::Sqlite
    }

    fn configured(&self, cfg: &Config, wanted: &dyn Fn(&str) -> bool) -> Vec<Box<dyn Source>> {
        cfg.backup
            .databases
            .iter()
            .filter(|n| wanted(n))
            .map(|name| Box::new(SqliteSource::new(&cfg.backup.source_dir, name)) as Box<dyn Source>)
            .collect()
    }

    fn check_copy(&self, path: &Path) -> Result<Checked, SkipReason> {
        check(path)
    }

    fn entry_problem(&self, entry: &DatabaseEntry) -> Option<&'static str> {
        crate::manifest::database_name_problem(&entry.name)
    }

    fn words(&self) -> &'static str {
        "SQLite database"
    }

    fn info_copy(&self, entry: &DatabaseEntry, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "Journal:   {}, page size {}", entry.journal_mode, entry.page_size);
    }

    fn block_delta(&self) -> bool {
        true
    }

    fn live_target(&self, cfg: &Config, entry: &DatabaseEntry) -> Option<LiveTarget> {
        cfg.backup
            .databases
            .contains(&entry.name)
            .then(|| LiveTarget::Database(cfg.backup.source_dir.join(&entry.name)))
    }

    /// Nothing here: `diagnose` checks every database itself first, with
    /// the restore advice only it knows.
    fn diagnose(&self, _cfg: &Config, _last: Option<&Manifest>) -> Vec<Finding> {
        Vec::new()
    }
}
