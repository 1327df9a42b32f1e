//! Configuration: built-in defaults (`config/default.toml`, compiled in) ←
//! the TOML file named by `--config PATH` or `LIFEBOAT_CONFIG` ← environment
//! variables `LIFEBOAT__SECTION__KEY`. Everything is validated once, at
//! start-up, and every error names the key and says what is allowed.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The defaults, equal to `config/default.toml` (it is that file).
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

/// Environment variable naming the config file when `--config` is not given.
pub const CONFIG_ENV: &str = "LIFEBOAT_CONFIG";

/// One decimal megabyte, the unit of `telegram.max_upload_mb`.
pub const MB: u64 = 1_000_000;

/// The whole configuration, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[backup]`
    pub backup: BackupConfig,
    /// `[schedule]`
    pub schedule: ScheduleConfig,
    /// `[retention]`
    pub retention: RetentionConfig,
    /// `[telegram]`
    pub telegram: TelegramConfig,
    /// `[retry]`
    pub retry: RetryConfig,
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
}

/// `[schedule]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Crontab expression (5 fields, UTC).
    pub cron: String,
}

/// `[retention]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Remove archives older than this many days.
    pub max_age_days: i64,
    /// Keep at most this many archives.
    pub max_count: i64,
}

/// `[telegram]`
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// Bot token; never printed (see [`Secret`]).
    pub token: Secret,
    /// File holding the token, read when `token` is empty.
    pub token_file: PathBuf,
    /// Bot API base URL.
    pub api_url: String,
    /// Admins: receive every backup, may use `/admin`.
    pub admin_ids: Vec<i64>,
    /// Owner: may also restore from Telegram. 0 = nobody.
    pub owner_id: i64,
    /// Upload limit in decimal MB; larger archives are split.
    pub max_upload_mb: u64,
    /// Timeout of one upload request.
    pub upload_timeout_secs: u64,
}

/// `[retry]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per delivery per cycle, at least 1.
    pub attempts: u32,
    /// First backoff delay.
    pub initial_delay_secs: u64,
    /// Backoff ceiling.
    pub max_delay_secs: u64,
}

/// A string that never shows itself in `Debug` or `Display` output.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself: pass it straight to the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[redacted]" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &self.token)
            .field("token_file", &self.token_file)
            .field("api_url", &self.api_url)
            .field("admin_ids", &self.admin_ids)
            .field("owner_id", &self.owner_id)
            .field("max_upload_mb", &self.max_upload_mb)
            .field("upload_timeout_secs", &self.upload_timeout_secs)
            .finish()
    }
}

/// A configuration that cannot be used, with the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config`/`LIFEBOAT_CONFIG` does not exist.
    #[error(
        "config file {path} not found (named by {source_of_name}); pass an existing file or drop the option to use the built-in defaults"
    )]
    FileMissing {
        /// The path given.
        path: PathBuf,
        /// `--config` or `LIFEBOAT_CONFIG`.
        source_of_name: &'static str,
    },
    /// TOML syntax, an unknown key or a value of the wrong type.
    #[error("config: {0}")]
    Parse(String),
    /// A value of the right type but not allowed.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// `section.key`
        key: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

impl Config {
    /// Loads the layers: defaults ← `path` (or `LIFEBOAT_CONFIG`) ← env.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env_path = std::env::var_os(CONFIG_ENV).filter(|p| !p.is_empty()).map(PathBuf::from);
        let (file, source_of_name) = match (path, env_path) {
            (Some(p), _) => (Some(p.to_path_buf()), "--config"),
            (None, Some(p)) => (Some(p), CONFIG_ENV),
            (None, None) => (None, ""),
        };
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Some(file) = &file {
            if !file.is_file() {
                return Err(ConfigError::FileMissing { path: file.clone(), source_of_name });
            }
            builder = builder.add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("LIFEBOAT")
                .prefix_separator("__")
                .separator("__")
                .list_separator(",")
                .with_list_parse_key("backup.databases")
                .with_list_parse_key("telegram.admin_ids")
                .try_parsing(true),
        );
        let raw = builder.build().map_err(|e| ConfigError::Parse(describe(e, file.as_deref())))?;
        let mut cfg: Config = raw.try_deserialize().map_err(|e| ConfigError::Parse(describe(e, file.as_deref())))?;
        cfg.resolve_token()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses one TOML document over the defaults, without env or files.
    /// For tests and tools; [`Config::load`] is what the binaries use.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        let raw = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml))
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::Parse(describe(e, None)))?;
        let mut cfg: Config = raw.try_deserialize().map_err(|e| ConfigError::Parse(describe(e, None)))?;
        cfg.resolve_token()?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_token(&mut self) -> Result<(), ConfigError> {
        let t = &mut self.telegram;
        if t.token.is_empty() && !t.token_file.as_os_str().is_empty() {
            let text = std::fs::read_to_string(&t.token_file)
                .map_err(|e| invalid("telegram.token_file", format!("cannot read {}: {e}", t.token_file.display())))?;
            t.token = Secret::new(text.trim());
        }
        Ok(())
    }

    /// Checks every value; the first problem is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let b = &self.backup;
        if b.databases.is_empty() {
            return Err(invalid("backup.databases", "is empty; list the database file names inside backup.source_dir"));
        }
        for (i, name) in b.databases.iter().enumerate() {
            if !is_plain_file_name(name) {
                return Err(invalid(
                    "backup.databases",
                    format!(
                        "{name:?} is not a plain file name; give names inside backup.source_dir, without '/' or '..'"
                    ),
                ));
            }
            if b.databases[..i].contains(name) {
                return Err(invalid("backup.databases", format!("{name:?} is listed twice")));
            }
            if matches!(name.as_str(), "backup_info.txt" | "manifest.json") {
                return Err(invalid("backup.databases", format!("{name:?} is reserved for the archive's own files")));
            }
        }
        if b.source_dir.as_os_str().is_empty() {
            return Err(invalid("backup.source_dir", "is empty; give the folder holding the databases"));
        }
        if b.output_dir.as_os_str().is_empty() {
            return Err(invalid("backup.output_dir", "is empty; give the folder for archives"));
        }
        // A file where a folder is expected would otherwise surface later as
        // "Not a directory" deep inside some path (the lock, the state).
        for (key, dir) in [("backup.source_dir", &b.source_dir), ("backup.output_dir", &b.output_dir)] {
            if dir.exists() && !dir.is_dir() {
                return Err(invalid(key, format!("{} is a file, not a folder; give a folder", dir.display())));
            }
        }
        if !(0..=9).contains(&b.compression_level) {
            return Err(invalid(
                "backup.compression_level",
                format!("is {}; allowed: 0 (store) to 9 (smallest)", b.compression_level),
            ));
        }
        crate::schedule::parse(&self.schedule.cron).map_err(|e| invalid("schedule.cron", e))?;
        let r = &self.retention;
        if r.max_age_days < 1 {
            return Err(invalid("retention.max_age_days", format!("is {}; allowed: 1 or more days", r.max_age_days)));
        }
        if r.max_count < 1 {
            return Err(invalid("retention.max_count", format!("is {}; allowed: 1 or more archives", r.max_count)));
        }
        let t = &self.telegram;
        if !t.token.is_empty() && !looks_like_token(t.token.expose()) {
            return Err(invalid(
                "telegram.token",
                "does not look like a bot token (digits, ':', then 30+ letters, digits, '_' or '-'); copy it from @BotFather",
            ));
        }
        if !(t.api_url.starts_with("http://") || t.api_url.starts_with("https://")) {
            return Err(invalid("telegram.api_url", format!("{:?} is not an http(s) URL", t.api_url)));
        }
        for (i, id) in t.admin_ids.iter().enumerate() {
            if *id == 0 {
                return Err(invalid("telegram.admin_ids", "contains 0; give numeric Telegram user ids"));
            }
            if t.admin_ids[..i].contains(id) {
                return Err(invalid("telegram.admin_ids", format!("{id} is listed twice")));
            }
        }
        if !(1..=2000).contains(&t.max_upload_mb) {
            return Err(invalid(
                "telegram.max_upload_mb",
                format!(
                    "is {}; allowed: 1 to 50 on the official server, up to 2000 with a local Bot API server",
                    t.max_upload_mb
                ),
            ));
        }
        if t.upload_timeout_secs < 10 {
            return Err(invalid(
                "telegram.upload_timeout_secs",
                format!("is {}; allowed: 10 seconds or more", t.upload_timeout_secs),
            ));
        }
        let y = &self.retry;
        if !(1..=100).contains(&y.attempts) {
            return Err(invalid("retry.attempts", format!("is {}; allowed: 1 to 100", y.attempts)));
        }
        if y.max_delay_secs < y.initial_delay_secs {
            return Err(invalid(
                "retry.max_delay_secs",
                format!("({}) is below retry.initial_delay_secs ({})", y.max_delay_secs, y.initial_delay_secs),
            ));
        }
        Ok(())
    }

    /// Whether a bot token is configured (delivery enabled).
    pub fn delivery_enabled(&self) -> bool {
        !self.telegram.token.is_empty()
    }

    /// Everyone who may use the dashboard: admins and the owner.
    pub fn is_admin(&self, user_id: i64) -> bool {
        user_id != 0 && (self.telegram.admin_ids.contains(&user_id) || self.telegram.owner_id == user_id)
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

    /// The upload limit in bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.telegram.max_upload_mb * MB
    }
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && Path::new(name).file_name().is_some_and(|f| f == name)
}

fn looks_like_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else { return false };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_validate() {
        let cfg = Config::from_toml("").unwrap();
        assert_eq!(cfg.backup.databases.len(), 5);
        assert_eq!(cfg.backup.compression_level, 6);
        assert_eq!(cfg.schedule.cron, "0 * * * *");
        assert_eq!(cfg.telegram.max_upload_mb, 50);
        assert!(!cfg.delivery_enabled());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("[backup]\ncompression_level = 12", "backup.compression_level"),
            ("[backup]\ndatabases = []", "backup.databases"),
            ("[backup]\ndatabases = [\"../etc/passwd\"]", "backup.databases"),
            ("[schedule]\ncron = \"every hour\"", "schedule.cron"),
            ("[retention]\nmax_count = 0", "retention.max_count"),
            ("[telegram]\ntoken = \"abc\"", "telegram.token"),
            ("[telegram]\nmax_upload_mb = 0", "telegram.max_upload_mb"),
            ("[telegram]\napi_url = \"ftp://x\"", "telegram.api_url"),
            ("[retry]\nattempts = 0", "retry.attempts"),
        ];
        for (toml, key) in cases {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, expected it to name {key}");
        }
    }

    #[test]
    fn unknown_key_and_wrong_type_are_errors() {
        let err = Config::from_toml("[backup]\ncompresion_level = 3").unwrap_err().to_string();
        assert!(err.contains("compresion_level"), "{err}");
        let err = Config::from_toml("[retention]\nmax_age_days = \"week\"").unwrap_err().to_string();
        assert!(err.contains("max_age_days"), "{err}");
    }

    #[test]
    fn token_never_in_debug() {
        let token = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh";
        let cfg = Config::from_toml(&format!("[telegram]\ntoken = \"{token}\"")).unwrap();
        assert!(cfg.delivery_enabled());
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("ABCDEFGHIJ"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
    }

    #[test]
    fn token_file_is_read_when_token_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "42:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh\n").unwrap();
        let cfg = Config::from_toml(&format!("[telegram]\ntoken_file = {:?}", f.display().to_string())).unwrap();
        assert_eq!(cfg.telegram.token.expose(), "42:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh");
        let err = Config::from_toml("[telegram]\ntoken_file = \"/nonexistent/token\"").unwrap_err().to_string();
        assert!(err.contains("telegram.token_file"), "{err}");
    }
}
