//! Configuration: built-in defaults (`config/default.toml`, compiled in) ←
//! the TOML file named by `--config PATH` or `LIFEBOAT_CONFIG` ← environment
//! variables `LIFEBOAT__SECTION__KEY`. Everything is validated once, at
//! start-up, and every error names the key and says what is allowed.

mod checks;
mod env;
mod file;
mod secrets;
mod validate;

pub use lifeboat_core::config::{error, retry, secret, value};

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::destinations::{Bots, DestinationsConfig};
use checks::{check_choices, check_kinds, check_syntax};
pub use error::ConfigError;
use error::invalid;
use lifeboat_telegram::TelegramConfig;
pub use retry::RetryConfig;
pub use secret::{Secret, SecretFile, SecretProblem, SecretUrl, UnreadSecret};
pub use secrets::CONFIG_FILE_KEY;
pub use value::{MAX_TIMEOUT_SECS, MB};

/// The defaults, equal to `config/default.toml` (it is that file).
pub const DEFAULT_TOML: &str = include_str!("../../../../config/default.toml");

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "LIFEBOAT_CONFIG";

/// Where an installed Lifeboat keeps its configuration; read when neither
/// `--config` nor `LIFEBOAT_CONFIG` names a file.
pub const SYSTEM_CONFIG: &str = "/etc/lifeboat/lifeboat.toml";

/// Which file to read: `--config`, else `LIFEBOAT_CONFIG`, else `system`
/// when it exists. With the name of where it came from, for errors.
fn pick_file(given: Option<&Path>, env: Option<PathBuf>, system: &Path) -> Option<(PathBuf, &'static str)> {
    match (given, env) {
        (Some(p), _) => Some((p.to_path_buf(), "--config")),
        (None, Some(p)) => Some((p, CONFIG_ENV)),
        (None, None) => system.is_file().then(|| (system.to_path_buf(), SYSTEM_CONFIG)),
    }
}

/// Longest retry backoff, in seconds: a longer one would stall a cycle (and
/// the next ones behind its lock) for hours after a single error.
pub const MAX_RETRY_DELAY_SECS: u64 = 600;
/// Longest `retention.max_age_days` (a century), so every date computed
/// from it fits.
pub const MAX_AGE_DAYS: i64 = 36_500;

/// The whole configuration, validated, its values parsed: a schedule, URL,
/// address or key here is already the typed value, never text to parse again.
#[derive(Debug, Clone)]
pub struct Config {
    pub backup: BackupConfig,
    pub schedule: ScheduleConfig,
    pub retention: RetentionConfig,
    /// `[telegram]`: Telegram's own section, parsed, checked and given its
    /// token by `lifeboat-telegram`.
    pub telegram: TelegramConfig,
    /// The sections of the bots a kind of destination runs, each a
    /// top-level table of its own.
    pub bots: Bots,
    pub retry: RetryConfig,
    pub monitoring: MonitoringConfig,
    pub encryption: EncryptionConfig,
    pub hooks: HooksConfig,
    pub continuous: ContinuousConfig,
    /// `[[sources.KIND]]`: one table per kind of source (see [`lifeboat_core::source::KINDS`])
    pub sources: lifeboat_core::source::SourcesConfig,
    pub destinations: DestinationsConfig,
    /// The file the configuration came from; None: built-in defaults and
    /// the environment only.
    pub file: Option<PathBuf>,
    /// `telegram.max_upload_mb` was set by the file or the environment.
    upload_limit_given: bool,
    /// The file holds the bot token itself: it is one of the secret files.
    file_holds_secret: bool,
    /// Secret files that could not be read, loaded with
    /// [`SecretsNeeded::WhenUsed`]: the operation that needs one refuses then.
    unread_secrets: Vec<UnreadSecret>,
}

/// Which of the secret files the configuration names a load must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretsNeeded {
    /// Every one: any that cannot be read stops the load (a backup cycle
    /// uses them all, and a daemon must not start to fail hours later).
    #[default]
    All,
    /// Those the command turns out to use: one that cannot be read (a
    /// Telegram token on a server being rebuilt) is kept in
    /// [`Config::unread_secrets`], a warning, and the operation that needs
    /// it refuses then ([`Config::require_secret`]).
    WhenUsed,
}

/// `[backup]`: what to back up and where archives go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// Folder with the live databases.
    pub source_dir: PathBuf,
    /// Database file names inside `source_dir`.
    pub databases: Vec<String>,
    /// Folder for archives and Lifeboat's state.
    pub output_dir: PathBuf,
    /// Deflate level 0-9.
    pub compression_level: i64,
    /// Scheduled cycles write nothing when no database changed.
    pub skip_unchanged: bool,
}

/// `[schedule]`
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// Crontab expression (5 fields, UTC).
    pub cron: lifeboat_core::schedule::Schedule,
    /// When archives are full; between these times they are differential.
    /// None (`""`): every archive is full.
    pub full_cron: Option<lifeboat_core::schedule::Schedule>,
}

/// `[retention]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Remove archives older than this many days.
    pub max_age_days: i64,
    /// Keep at most this many archives.
    pub max_count: i64,
    /// GFS tiers: the newest archive of each of the last N hours…
    pub keep_hourly: u32,
    /// …days…
    pub keep_daily: u32,
    /// …ISO weeks…
    pub keep_weekly: u32,
    /// …and months that have one.
    pub keep_monthly: u32,
}

/// `[continuous]`: committed changes of the SQLite databases captured
/// every few seconds, for `restore --at TIME`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinuousConfig {
    /// The scheduler daemon captures the databases' committed changes.
    pub enabled: bool,
    /// Seconds between two captures (1 to [`MAX_CONTINUOUS_INTERVAL_SECS`]).
    pub interval_secs: u64,
    /// How many days back `restore --at` reaches (1 to [`MAX_AGE_DAYS`]).
    pub keep_days: i64,
}

impl ContinuousConfig {
    /// The time between two captures.
    pub fn interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.interval_secs)
    }
}

/// Longest `continuous.interval_secs`: an hour, the schedule's own window.
pub const MAX_CONTINUOUS_INTERVAL_SECS: u64 = 3600;

/// `[monitoring]`: how Lifeboat watches itself and tells people.
#[derive(Debug, Clone)]
pub struct MonitoringConfig {
    /// No successful backup for this long is an incident; 0: off.
    pub stale_after_minutes: u64,
    /// Dead-man's switch base URL (http or https, with a host); None (`""`): off.
    pub ping_url: Option<url::Url>,
    /// Prometheus textfile written after each cycle; empty: off.
    pub metrics_file: PathBuf,
    /// Address the scheduler daemon serves `/metrics` on; None (`""`): off.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Shrink against the previous good archive that raises an alert; 0: off.
    pub shrink_alert_percent: u32,
    /// A table losing more rows than this since the previous good archive
    /// raises the same alert, however large the table; 0: off.
    pub shrink_alert_rows: u64,
    /// Routine archives are sent without a notification sound.
    pub quiet_routine: bool,
}

/// `[hooks]`: commands run around each cycle, each a command line for
/// `/bin/sh -c`, in the order given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Before a cycle; one exiting non-zero skips the cycle.
    pub before: Vec<String>,
    /// After every cycle that ran.
    pub after: Vec<String>,
    /// After a cycle that failed, was partial, or was skipped.
    pub on_failure: Vec<String>,
    /// Longest run of one hook; past it its process group is killed.
    pub timeout_secs: u64,
}

/// `[encryption]`: how archives are sealed, and the keys read at start-up.
#[derive(Debug, Clone)]
pub struct EncryptionConfig {
    /// none, zip-aes or age.
    pub mode: lifeboat_core::seal::Mode,
    /// zip-aes: the file holding the password.
    pub password_file: PathBuf,
    /// age: the public keys archives are sealed to.
    pub recipients: Vec<lifeboat_core::seal::Recipient>,
    /// age: a private key for verify and restore (optional).
    pub identity_file: PathBuf,
    /// The secrets read from the files above.
    pub keys: lifeboat_core::seal::Keys,
}

impl Config {
    /// Loads the layers: defaults ← `path` (or `LIFEBOAT_CONFIG`, or
    /// [`SYSTEM_CONFIG`] when it exists) ← env, reading every secret file.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with(path, SecretsNeeded::All)
    }

    /// [`Config::load`], reading the secret files as `needed` says.
    pub fn load_with(path: Option<&Path>, needed: SecretsNeeded) -> Result<Config, ConfigError> {
        let env_path = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()).map(PathBuf::from);
        let picked = pick_file(path, env_path, Path::new(SYSTEM_CONFIG));
        let source_of_name = picked.as_ref().map_or("", |(_, from)| *from);
        let file = picked.map(|(p, _)| p);
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Some(file) = &file {
            if !file.is_file() {
                return Err(ConfigError::FileMissing { path: file.clone(), source_of_name });
            }
            builder = builder.add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml));
        }
        let env = env_source(None);
        let from_env = env_keys(&env)?;
        builder = builder.add_source(env);
        let mut upload_limit_given = from_env.iter().any(|k| k == UPLOAD_LIMIT_KEY);
        let mut file_holds_secret = false;
        if let Some(file) = &file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Parse(format!("cannot read {}: {e}", file.display())))?;
            let table = check_syntax(&text, Some(file))?;
            upload_limit_given |= sets_upload_limit(&table);
            file_holds_secret = holds_token(&table);
        }
        let raw = builder.build().map_err(|e| ConfigError::Parse(describe(e, file.as_deref())))?;
        let env_password = std::env::var(lifeboat_core::seal::PASSWORD_ENV).ok();
        let given = Given { upload_limit: upload_limit_given, token_in_file: file_holds_secret, needed };
        let cfg = Self::finish(raw, file.as_deref(), &from_env, given, env_password)?;
        for warning in cfg.exposed_secret_files() {
            tracing::warn!("{warning}");
        }
        for warning in env::misspelled(std::env::vars_os().map(|(name, _)| name)) {
            tracing::warn!("{warning}");
        }
        Ok(cfg)
    }

    fn finish(
        mut raw: config::Config,
        file: Option<&Path>,
        from_env: &[String],
        given: Given,
        env_password: Option<String>,
    ) -> Result<Config, ConfigError> {
        check_kinds(&raw, from_env)?;
        check_choices(&raw)?;
        // `LIFEBOAT__TELEGRAM__ADMIN_IDS=111` is a list of one: the
        // environment cannot tell one value from a list.
        for key in list_keys().filter(|k| from_env.iter().any(|e| e == k)) {
            if let Ok(v) = raw.get::<config::Value>(key)
                && !matches!(v.kind, config::ValueKind::Array(_))
            {
                raw = config::Config::builder()
                    .add_source(raw)
                    .set_override(key, vec![v])
                    .and_then(|b| b.build())
                    .map_err(|e| ConfigError::Parse(describe(e, file)))?;
            }
        }
        let parse_error = |e| ConfigError::Parse(describe(e, file));
        let mut top = raw.cache.into_table().map_err(parse_error)?;
        file::refuse_unknown_tables(&top).map_err(parse_error)?;
        let bots = crate::destinations::BotsFile::take(&mut top).map_err(parse_error)?;
        let written: file::ConfigFile = config::Value::new(None, top).try_deserialize().map_err(parse_error)?;
        let mut cfg = written.parse(bots)?;
        cfg.file = file.map(Path::to_path_buf);
        cfg.upload_limit_given = given.upload_limit;
        cfg.file_holds_secret = given.token_in_file;
        let mut unread = secrets::Unread::new(given.needed);
        cfg.resolve_token(&mut unread)?;
        cfg.validate()?;
        cfg.resolve_source_passwords(&mut unread)?;
        cfg.resolve_destination_secrets(&mut unread)?;
        cfg.resolve_bot_secrets(&mut unread)?;
        cfg.resolve_keys(env_password, &mut unread)?;
        cfg.unread_secrets = unread.found;
        Ok(cfg)
    }

    /// Parses one TOML document over the defaults, without env or files.
    /// For tests and tools; [`Config::load`] is what the binaries use.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        let upload_limit_given = sets_upload_limit(&check_syntax(toml, None)?);
        let raw = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml))
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::Parse(describe(e, None)))?;
        let given = Given { upload_limit: upload_limit_given, token_in_file: false, needed: SecretsNeeded::All };
        Self::finish(raw, None, &[], given, None)
    }

    /// Whether a bot token is configured (delivery enabled).
    pub fn delivery_enabled(&self) -> bool {
        self.telegram.enabled()
    }

    /// Lifeboat's own folder inside `output_dir` (state database, lock).
    pub fn state_dir(&self) -> PathBuf {
        self.backup.output_dir.join(".lifeboat")
    }

    /// The shared state database.
    pub fn state_path(&self) -> PathBuf {
        self.state_dir().join("state.db")
    }

    /// The cycle lock file shared by every binary.
    pub fn lock_path(&self) -> PathBuf {
        self.state_dir().join("cycle.lock")
    }

    /// What continuous protection of the SQLite databases reads: their
    /// folder and names, Lifeboat's folders, the keys, `[continuous]`'s
    /// retention and the stores that copy increments.
    pub fn continuous_setup(&self) -> lifeboat_core::source::sqlite::continuous::setup::Setup {
        let e = &self.encryption;
        lifeboat_core::source::sqlite::continuous::setup::Setup {
            source_dir: self.backup.source_dir.clone(),
            databases: self.backup.databases.clone(),
            output_dir: self.backup.output_dir.clone(),
            state_dir: self.state_dir(),
            keys: e.keys.clone(),
            recipients: (e.mode == lifeboat_core::seal::Mode::Age).then(|| e.recipients.clone()),
            keep_days: self.continuous.keep_days,
            stores: self.destinations.store_ids(),
        }
    }

    /// The upload limit in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.telegram.max_upload_mb * MB
    }

    /// The size archives are split at: the upload limit when Telegram
    /// delivers them, or when `max_upload_mb` was set on purpose (parts to
    /// carry elsewhere). Without either, archives stay whole: nothing needs
    /// parts, and one file is simpler to handle.
    pub fn split_bytes(&self) -> Option<u64> {
        (self.delivery_enabled() || self.upload_limit_given).then(|| self.max_upload_bytes())
    }
}

/// What the file itself sets, beyond its values.
#[derive(Default)]
struct Given {
    /// `telegram.max_upload_mb` (or its variable).
    upload_limit: bool,
    /// `telegram.token`, in the file itself.
    token_in_file: bool,
    /// Which secret files must be read.
    needed: SecretsNeeded,
}

const UPLOAD_LIMIT_KEY: &str = "telegram.max_upload_mb";

fn sets_upload_limit(file: &toml::Table) -> bool {
    file.get("telegram").and_then(|t| t.get("max_upload_mb")).is_some()
}

fn holds_token(file: &toml::Table) -> bool {
    file.get("telegram").and_then(|t| t.get("token")).and_then(toml::Value::as_str).is_some_and(|t| !t.is_empty())
}

/// The kinds' keys holding lists of whole numbers: Telegram's, then the
/// bots'.
fn int_list_keys() -> impl Iterator<Item = &'static str> {
    lifeboat_telegram::section::INT_LISTS.iter().copied().chain(Bots::int_lists())
}

/// Keys holding lists, comma-separated in the environment: the engine's,
/// then the kinds' ([`int_list_keys`]).
fn list_keys() -> impl Iterator<Item = &'static str> {
    ["backup.databases", "encryption.recipients"].into_iter().chain(int_list_keys())
}

/// `LIFEBOAT__SECTION__KEY` variables (or `vars`, for tests); lists are
/// comma-separated.
fn env_source(vars: Option<config::Map<String, String>>) -> config::Environment {
    list_keys()
        .fold(
            config::Environment::with_prefix("LIFEBOAT").prefix_separator("__").separator("__").list_separator(","),
            |env, key| env.with_list_parse_key(key),
        )
        .try_parsing(true)
        .source(vars)
}

/// The keys the environment sets, as `section.key`.
fn env_keys(env: &config::Environment) -> Result<Vec<String>, ConfigError> {
    use config::Source;
    Ok(env.collect().map_err(|e| ConfigError::Parse(e.to_string()))?.into_keys().collect())
}

/// `config`'s messages name the key but not the file; add it, and never echo
/// a token.
fn describe(e: config::ConfigError, file: Option<&Path>) -> String {
    let text = e.to_string();
    match file {
        Some(f) => format!("{text} (in {} or the LIFEBOAT__* environment)", f.display()),
        None => text,
    }
}

// The state database and a destination's surroundings, opened and built
// from a configuration here, so that neither needs to know the
// configuration.
impl Config {
    /// Opens the state database.
    pub fn open_state(&self) -> Result<lifeboat_core::state::State, lifeboat_core::state::StateError> {
        lifeboat_core::state::State::open(&self.state_path())
    }

    /// Where every archive goes besides one destination, in words: the
    /// buckets by id, and the Telegram admins when a bot token is set.
    fn archives_elsewhere(&self) -> Vec<String> {
        let mut elsewhere = self.destinations.store_ids();
        if self.delivery_enabled() {
            elsewhere.push("the Telegram admins".into());
        }
        elsewhere
    }

    /// Every destination this configures, opened by its kind (see
    /// [`crate::destinations`]).
    pub fn open_destinations(&self) -> lifeboat_core::destination::Opened {
        let sections = crate::destinations::Sections {
            destinations: &self.destinations,
            bots: &self.bots,
            telegram: &self.telegram,
        };
        crate::destinations::open(sections, &self.surroundings())
    }

    /// What a destination needs besides its own section.
    pub fn surroundings(&self) -> lifeboat_core::destination::Surroundings {
        lifeboat_core::destination::Surroundings {
            output_dir: self.backup.output_dir.clone(),
            state_path: self.state_path(),
            keys: self.encryption.keys.clone(),
            retry: self.retry.clone(),
            quiet_routine: self.monitoring.quiet_routine,
            elsewhere: self.archives_elsewhere(),
        }
    }
}

#[cfg(test)]
mod tests;
