//! What the rest of Lifeboat asks about SQLite databases as a kind.

use std::path::Path;

use super::{SqliteSource, check};
use crate::finding::Finding;
use crate::manifest::{DatabaseEntry, Kind, Manifest};
use crate::snapshot::SkipReason;
use crate::source::{Checked, LiveTarget, Setup, Source, SourceKind};

/// The SQLite kind: the databases `backup.databases` names inside
/// `backup.source_dir`.
pub(in crate::source) struct Sqlite;

pub(in crate::source) static KIND: Sqlite = Sqlite;

impl SourceKind for Sqlite {
    fn kind(&self) -> Kind {
        Kind::Sqlite
    }

    fn configured(&self, setup: &Setup<'_>, wanted: &dyn Fn(&str) -> bool) -> Vec<Box<dyn Source>> {
        setup
            .databases
            .iter()
            .filter(|n| wanted(n))
            .map(|name| Box::new(SqliteSource::new(setup.source_dir, name)) as Box<dyn Source>)
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

    fn live_target(&self, setup: &Setup<'_>, entry: &DatabaseEntry) -> Option<LiveTarget> {
        setup.databases.contains(&entry.name).then(|| LiveTarget::Database(setup.source_dir.join(&entry.name)))
    }

    /// Nothing here: `diagnose` checks every database itself first, with
    /// the restore advice only it knows.
    fn diagnose(&self, _setup: &Setup<'_>, _last: Option<&Manifest>) -> Vec<Finding> {
        Vec::new()
    }
}
