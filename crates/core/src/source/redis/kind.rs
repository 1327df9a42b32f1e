//! What the rest of Lifeboat asks about Redis as a kind: its config
//! section, how its snapshot is named and described, and how it is put
//! back into the running server (or, without `redis-server` here, why it
//! is restored by hand).

use std::path::Path;

use super::{KEY, RDB_SUFFIX, RedisSource, check, steps};
use crate::config::error::ConfigError;
use crate::config::secret::{SecretFile, SecretProblem};
use crate::manifest::{DatabaseEntry, Kind, TableCount};
use crate::snapshot::SkipReason;
use crate::source::{
    Checked, LiveTarget, LoadWords, ManualRestore, RestoreCheckError, Section, ServerError, Setup, Source, SourceKind,
    SourcesConfig, tool,
};

/// The Redis kind: `[[sources.redis]]`.
pub(in crate::source) struct Redis;

pub(in crate::source) static KIND: Redis = Redis;

impl SourceKind for Redis {
    fn kind(&self) -> Kind {
        Kind::Redis
    }

    fn table(&self) -> Option<&'static str> {
        Some(KEY)
    }

    fn sections<'a>(&self, sources: &'a SourcesConfig) -> Vec<Section<'a>> {
        sources.redis.iter().map(|r| r.section(KEY, RDB_SUFFIX)).collect()
    }

    fn validate(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        setup.sources.redis.iter().try_for_each(|r| r.check_url(KEY, &["redis", "rediss"], "redis://127.0.0.1:6379"))
    }

    fn secret_files(&self, sources: &SourcesConfig) -> Vec<SecretFile> {
        sources.redis.iter().filter_map(|r| r.secret_file("sources.redis.password_file")).collect()
    }

    fn resolve_secrets(&self, sources: &mut SourcesConfig) -> Vec<SecretProblem> {
        sources.redis.iter_mut().filter_map(|r| r.read_password(KEY).err().map(|e| r.problem(e))).collect()
    }

    fn configured(&self, setup: &Setup<'_>, wanted: &dyn Fn(&str) -> bool) -> Vec<Box<dyn Source>> {
        setup
            .sources
            .redis
            .iter()
            .filter(|r| wanted(&r.name))
            .map(|r| Box::new(RedisSource::new(r)) as Box<dyn Source>)
            .collect()
    }

    fn check_copy(&self, path: &Path) -> Result<Checked, SkipReason> {
        check(path)
    }

    fn entry_problem(&self, entry: &DatabaseEntry) -> Option<&'static str> {
        if !entry.name.ends_with(RDB_SUFFIX) {
            return Some("is a Redis snapshot not named NAME.rdb");
        }
        crate::manifest::database_name_problem(&entry.name)
    }

    fn words(&self) -> &'static str {
        "Redis RDB snapshot"
    }

    fn info_contents(&self, entry: &DatabaseEntry, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "Keys:      {}", entry.total_rows());
    }

    fn info_note(&self) -> Option<&'static str> {
        Some("A .rdb is a Redis snapshot: Redis loads it as its dump file when it starts.")
    }

    /// Loaded live through a private `redis-server` (see `load.rs`); by
    /// hand when this machine has none.
    fn live_target(&self, setup: &Setup<'_>, entry: &DatabaseEntry) -> Option<LiveTarget> {
        let source = setup.sources.redis.iter().find(|r| r.name == entry.source_name())?;
        if tool::find("redis-server", &[]).is_none() {
            return Some(LiveTarget::Manual);
        }
        Some(LiveTarget::Load {
            source: source.name.clone(),
            dest: source.url.as_str().into(),
            words: LoadWords {
                key: KEY,
                server: "Redis",
                how: "every database of the server emptied (FLUSHALL), then each key put back with RESTORE \
                      (its TTL kept) from a private redis-server holding the snapshot",
            },
        })
    }

    fn manual_restore(&self) -> Option<ManualRestore> {
        Some(ManualRestore {
            why: "a live restore of Redis needs redis-server on this machine (apt-get install redis-server)",
            why_short: "redis-server is not installed here",
        })
    }

    /// The live server must answer (with the source's url, password and
    /// deadline) before anything is written. Whether it accepts `RESTORE`
    /// is known only by trying: the load puts one throw-away key back
    /// before it empties anything.
    fn restore_check(&self, setup: &Setup<'_>, source: &str) -> Result<Option<String>, RestoreCheckError> {
        setup.require_secret(KEY, source)?;
        let Some(r) = setup.sources.redis.iter().find(|r| r.name == source) else {
            return Err(RestoreCheckError::NotConfigured { key: KEY, name: source.to_string() });
        };
        crate::source::Source::probe(&RedisSource::new(r))?;
        Ok(None)
    }

    fn load(&self, setup: &Setup<'_>, source: &str, copy: &Path) -> Result<Vec<TableCount>, ServerError> {
        let Some(r) = setup.sources.redis.iter().find(|r| r.name == source) else {
            return Err(ServerError::Refused(format!("{KEY} \"{source}\" is no longer configured")));
        };
        RedisSource::new(r).load(copy)
    }

    fn restore_note(&self, dest: &Path) -> Option<String> {
        Some(steps(dest))
    }
}
