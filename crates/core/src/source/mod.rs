//! What gets backed up. Each kind of source implements [`Source`]: one
//! consistent copy into a file, then a check of that copy, before the backup
//! stores it in the archive as one entry. A kind is one file here: its
//! config, its snapshot, its check (which verify reuses on the archived
//! copy) and its probe for `diagnose`.

pub mod files;
mod postgres;
mod redis;
mod sqlite;
pub mod tool;

use std::path::{Path, PathBuf};

pub use files::{FileSource, FilesConfig};
pub use postgres::{PostgresConfig, PostgresSource, qualified_name};
pub use redis::{KEYS as REDIS_KEYS, RedisConfig, RedisSource};
pub use sqlite::SqliteSource;

use serde::Deserialize;

use crate::config::{Config, Secret};
use crate::manifest::{Kind, TableCount};
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

/// One `[[sources.postgres]]` or `[[sources.redis]]`: a server copied with
/// its own tools into one archive entry named after the source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub name: String,
    /// Without a password: a password in a URL would show in `ps`.
    pub url: String,
    /// The file holding the password ("" = none).
    #[serde(default)]
    pub password_file: PathBuf,
    /// Read from `password_file` at load.
    #[serde(skip)]
    pub password: Option<Secret>,
    /// How long one run of a tool against it (`pg_dump`, `redis-cli`,
    /// `pg_restore`, `psql`) may take before it is killed and the source
    /// skipped.
    #[serde(default = "default_tool_timeout")]
    pub timeout_secs: u64,
}

fn default_tool_timeout() -> u64 {
    DEFAULT_TOOL_TIMEOUT_SECS
}

/// `timeout_secs` of a server source when not given: long enough for a
/// large dump, short enough that a hung tool frees the cycle within the hour.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 3600;

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
        match self.probe() {
            Some(Err(why)) => Err(SkipReason::Other(why)),
            _ => Ok(()),
        }
    }

    /// For `diagnose`: whether the server answers and the tools work (Ok:
    /// what was found; Err: what is wrong). None: nothing to probe.
    fn probe(&self) -> Option<Result<String, String>> {
        None
    }
}

/// Checks a copy of a `kind` source (a snapshot, or an entry extracted from
/// an archive): what [`Source::check`] does.
pub fn check_copy(kind: Kind, path: &Path) -> Result<Checked, SkipReason> {
    match kind {
        Kind::Sqlite => sqlite::check(path),
        Kind::Postgres => postgres::check(path),
        Kind::Redis => redis::check(path),
        Kind::File => files::check(path),
    }
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
/// [`Config::secret_files`] lists) and its own folder of archives and state.
pub fn excluded_paths(cfg: &Config) -> Vec<PathBuf> {
    cfg.secret_files()
        .into_iter()
        .map(|s| s.path)
        .chain([cfg.backup.output_dir.clone()])
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.canonicalize().unwrap_or_else(|_| std::path::absolute(&p).unwrap_or(p)))
        .collect()
}

/// The sources `cfg` configures, in archive order: SQLite databases,
/// PostgreSQL, Redis, then every file of the files sources. `only` narrows
/// them to those source names (a pre-restore safety snapshot).
pub fn configured(cfg: &Config, only: Option<&[String]>) -> Vec<Box<dyn Source>> {
    let wanted = |name: &str| only.is_none_or(|o| o.iter().any(|n| n == name));
    let mut out: Vec<Box<dyn Source>> = Vec::new();
    for name in cfg.backup.databases.iter().filter(|n| wanted(n)) {
        out.push(Box::new(SqliteSource::new(&cfg.backup.source_dir, name)));
    }
    for p in cfg.sources.postgres.iter().filter(|p| wanted(&p.name)) {
        out.push(Box::new(PostgresSource::new(p)));
    }
    for r in cfg.sources.redis.iter().filter(|r| wanted(&r.name)) {
        out.push(Box::new(RedisSource::new(r)));
    }
    let excluded = excluded_paths(cfg);
    for f in cfg.sources.files.iter().filter(|f| wanted(&f.name)) {
        let expanded = files::expand(f, &excluded);
        for w in &expanded.warnings {
            tracing::warn!(source = %f.name, "{w}");
        }
        out.extend(expanded.files.into_iter().map(|file| Box::new(file) as Box<dyn Source>));
    }
    out
}
