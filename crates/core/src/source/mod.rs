//! What gets backed up. Each kind of source implements [`Source`]: one
//! consistent copy into a file, then a check of that copy, before the backup
//! stores it in the archive as one entry.
//!
//! A kind is one folder here (`sqlite/`, `postgres/`, `redis/`, `files/`)
//! holding every fact about it: its config section, the secrets it reads,
//! its validation, its snapshot, its check (which verify reuses on the
//! archived copy), its manifest entry rule, its words in `backup_info.txt`
//! and restore plans, how a live restore puts it back and its `diagnose`
//! probe. It describes itself through [`SourceKind`]; [`KINDS`] is the one
//! list of them, and the rest of Lifeboat asks that list, never a kind by
//! name.

pub mod files;
mod info;
mod postgres;
mod redis;
mod server;
pub mod sqlite;
pub mod tool;

use std::path::{Path, PathBuf};

pub use files::{FileSource, FilesConfig};
pub use info::info_text;
pub use postgres::{PostgresConfig, PostgresSource};
pub use redis::{KEYS as REDIS_KEYS, RedisConfig, RedisSource};
pub use server::{DEFAULT_TOOL_TIMEOUT_SECS, ServerConfig, ServerUrl};
pub use sqlite::SqliteSource;
pub use tool::ToolError;

use crate::config::error::ConfigError;
use crate::config::secret::{SecretFile, SecretProblem, UnreadSecret};
use crate::finding::Finding;
use crate::manifest::{DatabaseEntry, Kind, Manifest, TableCount};
use crate::snapshot::{SkipReason, Snapshot};

/// What a check found in a good copy, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// "ok", or what the check said.
    pub integrity: String,
    /// Tables and their rows (see [`crate::manifest::DatabaseEntry::tables`]).
    pub tables: Vec<TableCount>,
}

/// Who a source is: its one entry in the archive, the configured source it
/// belongs to (a files source has many entries) and its kind. Every copy it
/// takes is labelled with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub entry: String,
    pub source: String,
    pub kind: Kind,
}

impl Identity {
    /// The snapshot this source wrote to `path`, `size` bytes long.
    pub fn snapshot(&self, path: &Path, size: u64) -> Snapshot {
        Snapshot {
            name: self.entry.clone(),
            kind: self.kind,
            source: (self.source != self.entry).then(|| self.source.clone()),
            path: path.to_path_buf(),
            size,
            ..Snapshot::default()
        }
    }
}

/// One configured source.
pub trait Source: Send + Sync {
    /// Who it is; `name`, `source_name` and `kind` read it.
    fn identity(&self) -> &Identity;

    /// Its entry name in the archive.
    fn name(&self) -> &str {
        &self.identity().entry
    }

    /// The configured source's name.
    fn source_name(&self) -> &str {
        &self.identity().source
    }

    fn kind(&self) -> Kind {
        self.identity().kind
    }

    /// Bytes a copy will read, for progress; a guess is fine (a server's
    /// size is not known before its dump: 0).
    fn size_hint(&self) -> u64 {
        0
    }

    /// Takes one consistent copy into the new file `dest`. Sources are
    /// copied one at a time, so the bot never has two readers of ours.
    fn snapshot(&self, dest: &Path) -> Result<Snapshot, SkipReason>;

    /// Checks a copy before it is archived; a bad copy is skipped with why.
    fn check(&self, snap: &Snapshot) -> Result<Checked, SkipReason> {
        check_copy(self.kind(), &snap.path)
    }

    /// For a dry run: what can be told without taking a copy; Err says why
    /// the copy would be skipped. A server is asked whether it answers.
    fn preflight(&self) -> Result<(), SkipReason> {
        self.probe().map(|_| ()).map_err(SkipReason::from)
    }

    /// For `diagnose`: whether the server answers and the tools work: what
    /// was found, or what is wrong. Ok(None): nothing to probe.
    fn probe(&self) -> Result<Option<String>, ServerError> {
        Ok(None)
    }
}

/// Why a server could not be reached, copied or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Its tool could not be run to its end.
    #[error(transparent)]
    Tool(#[from] ToolError),
    /// The server or its tool answered with a failure: what it said,
    /// explained in words a person can act on.
    #[error("{0}")]
    Refused(String),
    /// A load stopped before it changed anything of the server (it did
    /// not answer, or refused the first, throw-away write): the server
    /// holds what it held, and a restore has nothing of it to put back.
    #[error("{0}")]
    Untouched(Box<ServerError>),
}

impl ServerError {
    /// `self`, marked as having left the server as it was.
    pub fn untouched(self) -> ServerError {
        match self {
            e @ ServerError::Untouched(_) => e,
            e => ServerError::Untouched(Box::new(e)),
        }
    }

    /// True when the server was left as it was ([`ServerError::Untouched`]).
    pub fn left_unchanged(&self) -> bool {
        matches!(self, ServerError::Untouched(_))
    }
}

/// Why a copy could not be loaded into a source's server, found before a
/// restore writes anything ([`SourceKind::restore_check`]).
#[derive(Debug, thiserror::Error)]
pub enum RestoreCheckError {
    /// The source's secret file could not be read when the configuration
    /// was loaded.
    #[error(transparent)]
    Secret(#[from] ConfigError),
    /// No source of that name is configured in that table.
    #[error("{key} \"{name}\" is not configured")]
    NotConfigured { key: &'static str, name: String },
    /// The server does not answer, or would refuse the load.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// Every kind of source, in archive order: the one list of them. A new
/// kind is a folder beside these, a field of [`SourcesConfig`], a
/// [`Kind`] in the manifest and one line here.
pub static KINDS: &[&dyn SourceKind] = &[&sqlite::KIND, &postgres::KIND, &redis::KIND, &files::KIND];

/// The description of `kind`.
pub fn kind(kind: Kind) -> &'static dyn SourceKind {
    *KINDS.iter().find(|k| k.kind() == kind).expect("every Kind is in KINDS")
}

/// One configured source as the checks every kind shares see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section<'a> {
    /// Its table: `sources.KIND`.
    pub key: &'static str,
    /// The source's name.
    pub name: &'a str,
    /// Its entry in the archive, or `NAME/` for a folder of entries.
    pub entry: String,
    /// How long one run of its tools may take, for a kind with tools.
    pub timeout_secs: Option<u64>,
}

/// What a kind of source is given to work with: the sources' own
/// sections and the few facts of the rest of the configuration they read.
/// Built once per operation by `Config::source_setup`.
#[derive(Debug, Clone)]
pub struct Setup<'a> {
    /// `[[sources.*]]`: each kind reads its own table.
    pub sources: &'a SourcesConfig,
    /// `backup.databases`: the SQLite kind's section.
    pub databases: &'a [String],
    /// `backup.source_dir`: the folder those databases are in.
    pub source_dir: &'a Path,
    /// Files a files source never archives: every one of Lifeboat's secret
    /// files and its own folder of archives and state ([`excluded_paths`]).
    pub excluded: Vec<PathBuf>,
    /// Secret files a load that reads secrets only when used could not
    /// read: an operation that needs one refuses.
    pub unread: &'a [UnreadSecret],
}

impl Setup<'_> {
    /// Refuses, as the load would have, when the secret of source `source`
    /// in table `key` could not be read.
    pub fn require_secret(&self, key: &str, source: &str) -> Result<(), ConfigError> {
        crate::config::secret::require(self.unread, key, Some(source))
    }
}

/// Where a live restore puts an entry back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveTarget {
    /// A database file in `backup.source_dir`, written through SQLite.
    Database(PathBuf),
    /// A server the verified copy is loaded into by [`SourceKind::load`].
    Load {
        /// The configured source's name.
        source: String,
        /// Where it goes, as a plan shows it (the server's URL).
        dest: PathBuf,
        /// How a plan describes it.
        words: LoadWords,
    },
    /// A file written back at its own path.
    File(PathBuf),
    /// Not restored live: the kind's server loads a copy only in its own
    /// way ([`SourceKind::manual_restore`] says why; `--to` gives the copy
    /// and [`SourceKind::restore_note`] the steps).
    Manual,
}

/// How a restore plan describes loading a copy into a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadWords {
    /// The config table the source is in: `sources.KIND`.
    pub key: &'static str,
    /// The server's product name.
    pub server: &'static str,
    /// How the load is done, for the command line's plan.
    pub how: &'static str,
}

/// Why a kind is not restored live, for a restore plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManualRestore {
    /// The reason, for the command line's plan.
    pub why: &'static str,
    /// The reason in fewer words, for a chat message.
    pub why_short: &'static str,
}

/// Everything about one kind of source that the rest of Lifeboat asks:
/// config, backup, verify, restore and diagnose see only this.
pub trait SourceKind: Sync {
    /// Which kind this is in the manifest.
    fn kind(&self) -> Kind;

    /// The table its sources are written in (`sources.KIND`, an array of
    /// tables); None for a kind configured elsewhere.
    fn table(&self) -> Option<&'static str> {
        None
    }

    /// Its configured sources, for the checks every kind shares (names
    /// plain and unique, entries apart, deadlines in range). None for a
    /// kind configured outside `[[sources.*]]`.
    fn sections<'a>(&self, _sources: &'a SourcesConfig) -> Vec<Section<'a>> {
        Vec::new()
    }

    /// Checks its own settings (URLs, paths); called once the names are
    /// known to be plain and unique.
    fn validate(&self, _setup: &Setup<'_>) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The files holding secrets its sources name: a files source never
    /// archives them, and one other users can read is warned about.
    fn secret_files(&self, _sources: &SourcesConfig) -> Vec<SecretFile> {
        Vec::new()
    }

    /// Reads the secrets its sources name by file, once at load: every
    /// one, and what was wrong with each that could not be read (the load
    /// decides whether that stops it).
    fn resolve_secrets(&self, _sources: &mut SourcesConfig) -> Vec<SecretProblem> {
        Vec::new()
    }

    /// Its configured sources whose names `wanted` accepts, in archive order.
    fn configured(&self, setup: &Setup<'_>, wanted: &dyn Fn(&str) -> bool) -> Vec<Box<dyn Source>>;

    /// Checks a copy (a snapshot, or an entry extracted from an archive).
    fn check_copy(&self, path: &Path) -> Result<Checked, SkipReason>;

    /// Why `entry` cannot be restored from an archive as it is named, or None.
    fn entry_problem(&self, entry: &DatabaseEntry) -> Option<&'static str>;

    /// True when its copy is a database (with tables or keys to count);
    /// false for a plain file.
    fn is_database(&self) -> bool {
        true
    }

    /// What a copy of this kind is, in words (`backup_info.txt`).
    fn words(&self) -> &'static str;

    /// `backup_info.txt`: lines about the copy itself, after its integrity.
    fn info_copy(&self, _entry: &DatabaseEntry, _out: &mut String) {}

    /// `backup_info.txt`: what the copy holds; by default its tables.
    fn info_contents(&self, entry: &DatabaseEntry, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "Tables:    {} ({} rows)", entry.tables.len(), entry.total_rows());
        for t in &entry.tables {
            let _ = writeln!(out, "  {}: {} rows", t.name, t.rows);
        }
    }

    /// `backup_info.txt`: a line at the end when the archive holds this
    /// kind (how to open such a copy by hand).
    fn info_note(&self) -> Option<&'static str> {
        None
    }

    /// False when its copy is compressed already: stored as it is.
    fn compressible(&self) -> bool {
        true
    }

    /// True when its copy is made of fixed-size pages, so a differential
    /// stores only the changed ones; any other copy shifts on every change.
    fn block_delta(&self) -> bool {
        false
    }

    /// Where a live restore puts `entry` back, or None when this
    /// configuration does not back it up: only what the configured
    /// sources cover is ever replaced (and so is in the safety snapshot).
    fn live_target(&self, setup: &Setup<'_>, entry: &DatabaseEntry) -> Option<LiveTarget>;

    /// Why its entries are not restored live, for a kind whose
    /// [`SourceKind::live_target`] is [`LiveTarget::Manual`].
    fn manual_restore(&self) -> Option<ManualRestore> {
        None
    }

    /// Loads the verified copy `copy` into the server of source `source`
    /// ([`LiveTarget::Load`]); the tables and rows it then holds.
    fn load(&self, _setup: &Setup<'_>, source: &str, _copy: &Path) -> Result<Vec<TableCount>, ServerError> {
        Err(ServerError::Refused(format!("{source} cannot be loaded into a server")))
    }

    /// True when a [`SourceKind::load`] that fails leaves the server as it
    /// was (one transaction): a restore failing there has nothing of it to
    /// put back.
    fn load_is_all_or_nothing(&self) -> bool {
        false
    }

    /// Before a live restore writes anything: whether a copy can be loaded
    /// into the server of source `source` ([`LiveTarget::Load`]). Ok(Some):
    /// what the load does first, for the plan (a database created); Err:
    /// why it would fail.
    fn restore_check(&self, _setup: &Setup<'_>, _source: &str) -> Result<Option<String>, RestoreCheckError> {
        Ok(None)
    }

    /// What to do with a copy restored into a folder, for a kind that
    /// needs more than the file (e.g. the steps that load it).
    fn restore_note(&self, _dest: &Path) -> Option<String> {
        None
    }

    /// What `diagnose` finds about its configured sources (`last`: the
    /// newest archive's manifest, for their sizes); by default each
    /// source's [`Source::probe`].
    fn diagnose(&self, setup: &Setup<'_>, last: Option<&Manifest>) -> Vec<Finding> {
        let mut findings = Vec::new();
        for s in self.configured(setup, &|_| true) {
            match s.probe() {
                Ok(Some(found)) => {
                    findings.push(Finding::ok(s.name(), format!("{found}{}", last_size(last, s.name()))))
                }
                Err(why) => findings.push(Finding::error(
                    s.name(),
                    why.to_string(),
                    "backups skip it (partial runs) until this is fixed; check the server, the url and password_file",
                )),
                Ok(None) => {}
            }
        }
        findings
    }
}

impl From<ServerError> for SkipReason {
    fn from(e: ServerError) -> SkipReason {
        match e {
            ServerError::Tool(e) => SkipReason::Tool(e),
            ServerError::Refused(why) => SkipReason::Failed(why),
            ServerError::Untouched(e) => SkipReason::from(*e),
        }
    }
}

/// "; SIZE in the newest archive" for `entry`, when `last` holds it.
pub(crate) fn last_size(last: Option<&Manifest>, entry: &str) -> String {
    last.and_then(|m| m.database(entry))
        .map(|d| format!("; {} in the newest archive", crate::units::human_size(d.size)))
        .unwrap_or_default()
}

/// Why `entry` cannot be restored from an archive as it is named, or None.
/// Every kind's entry is a plain name at the archive's root, except files:
/// `SOURCE/` then the file's path, each part a plain name (no `..`, no
/// absolute path), so extracting it can only ever write below a folder.
/// Each kind states its own rule ([`SourceKind::entry_problem`]).
pub fn entry_problem(entry: &DatabaseEntry) -> Option<&'static str> {
    kind(entry.kind).entry_problem(entry)
}

/// Checks a copy of a `kind` source (a snapshot, or an entry extracted from
/// an archive): what [`Source::check`] does.
pub(crate) fn check_copy(of: Kind, path: &Path) -> Result<Checked, SkipReason> {
    kind(of).check_copy(path)
}

/// `[[sources.*]]`: the sources besides `backup.databases`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesConfig {
    #[serde(default)]
    pub postgres: Vec<PostgresConfig>,
    #[serde(default)]
    pub redis: Vec<RedisConfig>,
    #[serde(default)]
    pub files: Vec<FilesConfig>,
}

impl SourcesConfig {
    /// True when no source besides SQLite is configured.
    pub fn is_empty(&self) -> bool {
        self.postgres.is_empty() && self.redis.is_empty() && self.files.is_empty()
    }

    /// Names of every configured source, SQLite databases first.
    pub fn names<'a>(&'a self, databases: &'a [String]) -> impl Iterator<Item = &'a str> {
        databases
            .iter()
            .map(String::as_str)
            .chain(self.postgres.iter().map(|p| p.name.as_str()))
            .chain(self.redis.iter().map(|r| r.name.as_str()))
            .chain(self.files.iter().map(|f| f.name.as_str()))
    }
}

/// Files a files source must never archive: Lifeboat's secrets (every file
/// `Config::secret_files` lists) and `output_dir`, its own
/// folder of archives and state; each made absolute, links resolved.
pub fn excluded_paths(secrets: Vec<SecretFile>, output_dir: &Path) -> Vec<PathBuf> {
    secrets
        .into_iter()
        .map(|s| s.path)
        .chain([output_dir.to_path_buf()])
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.canonicalize().unwrap_or_else(|_| std::path::absolute(&p).unwrap_or(p)))
        .collect()
}

/// The sources `setup` configures, in archive order (the order of [`KINDS`];
/// a files source is one source per file). `only` narrows them to those
/// source names (a pre-restore safety snapshot).
pub fn configured(setup: &Setup<'_>, only: Option<&[String]>) -> Vec<Box<dyn Source>> {
    let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
    KINDS.iter().flat_map(|k| k.configured(setup, &wanted)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every manifest kind is in [`KINDS`] once: [`kind`] finds it.
    #[test]
    fn every_kind_is_registered_once() {
        let all = [Kind::Sqlite, Kind::Postgres, Kind::Redis, Kind::File];
        for k in all {
            // A new Kind stops compiling here until it is listed above.
            match k {
                Kind::Sqlite | Kind::Postgres | Kind::Redis | Kind::File => {}
            }
            assert_eq!(KINDS.iter().filter(|d| d.kind() == k).count(), 1, "{k:?}");
        }
        assert_eq!(KINDS.len(), all.len());
    }
}
