//! What the rest of Lifeboat asks about PostgreSQL as a kind: its config
//! section, how its dump is named, described and loaded back.

use std::path::Path;

use super::{KEY, PGDUMP_SUFFIX, PostgresSource, check};
use crate::config::error::ConfigError;
use crate::config::secret::{SecretFile, SecretProblem};
use crate::manifest::{DatabaseEntry, Kind, TableCount};
use crate::snapshot::SkipReason;
use crate::source::{
    Checked, LiveTarget, LoadWords, RestoreCheckError, Section, ServerError, Setup, Source, SourceKind, SourcesConfig,
};

/// The PostgreSQL kind: `[[sources.postgres]]`.
pub(in crate::source) struct Postgres;

pub(in crate::source) static KIND: Postgres = Postgres;

impl SourceKind for Postgres {
    fn kind(&self) -> Kind {
        Kind::Postgres
    }

    fn table(&self) -> Option<&'static str> {
        Some(KEY)
    }

    fn sections<'a>(&self, sources: &'a SourcesConfig) -> Vec<Section<'a>> {
        sources.postgres.iter().map(|p| p.section(KEY, PGDUMP_SUFFIX)).collect()
    }

    fn validate(&self, setup: &Setup<'_>) -> Result<(), ConfigError> {
        let example = "postgresql://user@127.0.0.1:5432/dbname";
        setup.sources.postgres.iter().try_for_each(|p| p.check_url(KEY, &["postgresql", "postgres"], example))
    }

    fn secret_files(&self, sources: &SourcesConfig) -> Vec<SecretFile> {
        sources.postgres.iter().filter_map(|p| p.secret_file("sources.postgres.password_file")).collect()
    }

    fn resolve_secrets(&self, sources: &mut SourcesConfig) -> Vec<SecretProblem> {
        sources.postgres.iter_mut().filter_map(|p| p.read_password(KEY).err().map(|e| p.problem(e))).collect()
    }

    fn configured(&self, setup: &Setup<'_>, wanted: &dyn Fn(&str) -> bool) -> Vec<Box<dyn Source>> {
        setup
            .sources
            .postgres
            .iter()
            .filter(|p| wanted(&p.name))
            .map(|p| Box::new(PostgresSource::new(p)) as Box<dyn Source>)
            .collect()
    }

    fn check_copy(&self, path: &Path) -> Result<Checked, SkipReason> {
        check(path)
    }

    fn entry_problem(&self, entry: &DatabaseEntry) -> Option<&'static str> {
        if !entry.name.ends_with(PGDUMP_SUFFIX) {
            return Some("is a PostgreSQL dump not named NAME.pgdump");
        }
        crate::manifest::database_name_problem(&entry.name)
    }

    fn words(&self) -> &'static str {
        "PostgreSQL dump, pg_dump custom format"
    }

    fn info_note(&self) -> Option<&'static str> {
        Some("A .pgdump is pg_dump's custom format: pg_restore --list FILE shows it, pg_restore -d DB FILE loads it.")
    }

    /// `pg_dump --format=custom` compresses already.
    fn compressible(&self) -> bool {
        false
    }

    fn live_target(&self, setup: &Setup<'_>, entry: &DatabaseEntry) -> Option<LiveTarget> {
        let source = setup.sources.postgres.iter().find(|p| p.name == entry.source_name())?;
        Some(LiveTarget::Load {
            source: source.name.clone(),
            dest: source.url.as_str().into(),
            words: LoadWords {
                key: KEY,
                server: "PostgreSQL",
                how: "pg_restore --clean --if-exists, in one transaction",
            },
        })
    }

    /// `pg_restore --single-transaction`; counting the rows after it
    /// never fails the load.
    fn load_is_all_or_nothing(&self) -> bool {
        true
    }

    fn restore_check(&self, setup: &Setup<'_>, source: &str) -> Result<Option<String>, RestoreCheckError> {
        setup.require_secret(KEY, source)?;
        let Some(p) = setup.sources.postgres.iter().find(|p| p.name == source) else {
            return Err(RestoreCheckError::NotConfigured { key: KEY, name: source.to_string() });
        };
        Ok(PostgresSource::new(p).restore_check()?)
    }

    fn load(&self, setup: &Setup<'_>, source: &str, copy: &Path) -> Result<Vec<TableCount>, ServerError> {
        let Some(p) = setup.sources.postgres.iter().find(|p| p.name == source) else {
            return Err(ServerError::Refused(format!("{KEY} \"{source}\" is no longer configured")));
        };
        PostgresSource::new(p).load(copy)
    }
}
