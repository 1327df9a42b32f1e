//! `manifest.json`: the machine-readable description of one archive,
//! versioned. `backup_info.txt` says the same for people.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use strum::{Display, EnumString, IntoStaticStr};

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "lifeboat-backup";
/// Current manifest version. Readers accept versions up to this one.
pub const VERSION: u32 = 5;
/// Entry name of the manifest inside the ZIP.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Entry name of the human-readable summary inside the ZIP.
pub const INFO_NAME: &str = "backup_info.txt";

/// Suffixes of the files SQLite keeps beside a database (its write-ahead
/// log, shared memory index and rollback journal).
pub const SIDECAR_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// True when `name` is a plain file name: no folder, no `..`, not absolute,
/// no control character, nothing a file system treats specially.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !name.chars().any(|c| c.is_control())
        && name.len() <= 255
}

/// Why `name` cannot be a database inside an archive (or in
/// `backup.databases`), or None when it can. A name ending in `-wal`, `-shm`
/// or `-journal` would make Lifeboat write over a live database's journal,
/// so such names are refused wherever they appear.
pub fn database_name_problem(name: &str) -> Option<&'static str> {
    if !is_plain_name(name) {
        Some("is not a plain file name (no folder, no '..', no control characters)")
    } else if name == MANIFEST_NAME || name == INFO_NAME {
        Some("is reserved for the archive's own files")
    } else if SIDECAR_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        Some("names an SQLite journal file (-wal, -shm, -journal), not a database")
    } else {
        None
    }
}

/// What started a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr, EnumString, Display)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Trigger {
    /// The scheduler, on `schedule.cron`.
    Scheduled,
    /// `lifeboat backup` on the command line.
    Manual,
    /// "Backup now" from a chat: the Telegram dashboard or the Discord bot.
    Dashboard,
    /// `lifeboat demo`.
    Demo,
    /// The safety snapshot taken before a restore.
    PreRestore,
}

impl Trigger {
    /// The name used in the manifest, the state database and listings.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The manifest of one archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written.
    pub version: u32,
    /// When the snapshots were taken (the run's start), UTC.
    pub created_at: DateTime<Utc>,
    /// Host name of the machine.
    pub host: String,
    pub trigger: Trigger,
    /// Version of Lifeboat that wrote it.
    pub lifeboat_version: String,
    /// The databases inside, in configured order.
    pub databases: Vec<DatabaseEntry>,
    /// Configured databases that were not backed up, with why.
    pub skipped: Vec<SkippedDatabase>,
    /// A differential archive's base: the full archive it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseRef>,
}

/// The full archive a differential was made against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    /// Its logical name (in the same folder).
    pub archive: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// How a differential stores one database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// SHA-256 of the base's copy of this database: the delta applies to it
    /// and nothing else.
    pub base_sha256: String,
    /// The entry holding the changed blocks (`NAME.pages`, see
    /// [`crate::delta`]); None: the database did not change since the base.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// Blocks stored in the entry.
    pub changed_blocks: u64,
}

/// The manifest version of a differential archive (older Lifeboats refuse
/// it rather than misread it); full archives keep [`FULL_VERSION`]. Version
/// 5: its `.pages` entries may also pack a block against the base's block
/// laid out as SQLite defragments it, or against another, earlier block of
/// the base whose cells it took; version 4 ones deflated with the base's
/// block as dictionary at most; version 3 ones as XORs with it at most
/// (all `LBDELTA2`); version 2 differentials hold whole blocks only
/// (`LBDELTA1`).
pub const DIFFERENTIAL_VERSION: u32 = 5;
/// The manifest version full archives are written with.
pub const FULL_VERSION: u32 = 1;

/// The suffix of a delta entry after the database's name.
pub const DELTA_SUFFIX: &str = ".pages";

/// What kind of source an entry came from, which says how it is checked
/// and restored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Kind {
    /// An SQLite database file (`NAME`).
    #[default]
    Sqlite,
    /// A PostgreSQL database, as `pg_dump --format=custom` (`NAME.pgdump`).
    Postgres,
    /// A Redis server's RDB snapshot (`NAME.rdb`).
    Redis,
    /// A plain file (`NAME/<its path>`).
    File,
}

impl Kind {
    /// The name used in the manifest, `backup_info.txt` and listings.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn is_sqlite(&self) -> bool {
        *self == Kind::Sqlite
    }
}

/// One source's copy inside the archive: a database, a dump, a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseEntry {
    /// The entry's name in the ZIP: an SQLite database's file name, or
    /// `NAME.pgdump`, `NAME.rdb`, `NAME/<path>` (see [`Kind`]).
    pub name: String,
    /// What kind of source it came from.
    #[serde(default, skip_serializing_if = "Kind::is_sqlite")]
    pub kind: Kind,
    /// The configured source's name, when it differs from the entry's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A file's path on the machine it was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// A file's permission bits (e.g. 0o640).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// SHA-256 of the copy without what changes on every copy of the same
    /// data (a PostgreSQL dump's creation time, a Redis snapshot's
    /// auxiliary fields): equal fingerprints, same data. None: the sha256
    /// is the fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Size of the snapshot in bytes.
    pub size: u64,
    /// SHA-256 of the snapshot, lowercase hex.
    pub sha256: String,
    /// `PRAGMA integrity_check` result on the snapshot: "ok" when clean.
    pub integrity: String,
    /// An SQLite source's journal mode when snapshotted ("wal", "delete",
    /// ...); empty for other kinds.
    #[serde(default)]
    pub journal_mode: String,
    /// An SQLite database's page size in bytes; 0 for other kinds.
    #[serde(default)]
    pub page_size: u32,
    /// Tables and their row counts (SQLite, PostgreSQL: `schema.table`),
    /// or a Redis snapshot's keys as one `keys` count; none for a file.
    #[serde(default)]
    pub tables: Vec<TableCount>,
    /// In a differential: stored as changed blocks against the base (or not
    /// at all, unchanged). None: stored whole, under its own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

/// A table and its row count at snapshot time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCount {
    pub name: String,
    pub rows: u64,
}

/// A configured database that is not in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedDatabase {
    /// Configured file name.
    pub name: String,
    /// Why, in words a person can act on.
    pub reason: String,
}

impl Manifest {
    /// True when some configured database was skipped.
    pub fn is_partial(&self) -> bool {
        !self.skipped.is_empty()
    }

    /// The entry for a database, by name.
    pub fn database(&self, name: &str) -> Option<&DatabaseEntry> {
        self.databases.iter().find(|d| d.name == name)
    }

    /// True for a differential archive (it needs its base).
    pub fn is_differential(&self) -> bool {
        self.base.is_some()
    }

    /// Sum of the databases' sizes.
    pub(crate) fn total_size(&self) -> u64 {
        self.databases.iter().map(|d| d.size).sum()
    }
}

impl DatabaseEntry {
    /// The configured source it came from.
    pub fn source_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }

    /// Sum of the tables' rows.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_the_manifest() {
        for (kind, text) in
            [(Kind::Sqlite, "sqlite"), (Kind::Postgres, "postgres"), (Kind::Redis, "redis"), (Kind::File, "file")]
        {
            assert_eq!(kind.as_str(), text);
            assert_eq!(serde_json::to_value(kind).unwrap(), text);
        }
    }
}
