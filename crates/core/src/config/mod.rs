//! Configuration: built-in defaults (`config/default.toml`, compiled in) ←
//! the TOML file named by `--config PATH` or `LIFEBOAT_CONFIG` ← environment
//! variables `LIFEBOAT__SECTION__KEY`. Everything is validated once, at
//! start-up, and every error names the key and says what is allowed.

mod checks;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use checks::{check_apart, check_kinds, check_syntax};

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

/// One decimal megabyte, the unit of `telegram.max_upload_mb`.
pub const MB: u64 = 1_000_000;

/// Longest retry backoff, in seconds: a longer one would stall a cycle (and
/// the next ones behind its lock) for hours after a single error.
pub const MAX_RETRY_DELAY_SECS: u64 = 600;
/// Longest `retention.max_age_days` (a century), so every date computed
/// from it fits.
pub const MAX_AGE_DAYS: i64 = 36_500;

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
    /// `[monitoring]`
    pub monitoring: MonitoringConfig,
    /// `[encryption]`
    pub encryption: EncryptionConfig,
    /// `[[sources.postgres]]`, `[[sources.redis]]`, `[[sources.files]]`
    #[serde(default)]
    pub sources: crate::source::SourcesConfig,
    /// `[[destinations.s3]]`
    #[serde(default)]
    pub destinations: crate::destination::DestinationsConfig,
    /// The file the configuration came from; None: built-in defaults and
    /// the environment only.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// `telegram.max_upload_mb` was set by the file or the environment.
    #[serde(skip)]
    upload_limit_given: bool,
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
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Crontab expression (5 fields, UTC).
    pub cron: String,
    /// When archives are full; between these times they are differential.
    /// Empty: every archive is full.
    pub full_cron: String,
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

impl RetryConfig {
    /// The backoff every destination retries with inside one cycle:
    /// exponential from `initial_delay_secs` to `max_delay_secs`, with
    /// jitter, `attempts` tries in all.
    pub fn backoff(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::default()
            .with_min_delay(std::time::Duration::from_secs(self.initial_delay_secs))
            .with_max_delay(std::time::Duration::from_secs(self.max_delay_secs))
            .with_max_times(self.attempts.saturating_sub(1) as usize)
            .with_jitter()
    }
}

/// `[monitoring]`: how Lifeboat watches itself and tells people.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// No successful backup for this long is an incident; 0: off.
    pub stale_after_minutes: u64,
    /// Dead-man's switch base URL; empty: off.
    pub ping_url: String,
    /// Prometheus textfile written after each cycle; empty: off.
    pub metrics_file: PathBuf,
    /// Address the scheduler daemon serves `/metrics` on; empty: off.
    pub metrics_listen: String,
    /// Shrink against the previous good archive that raises an alert; 0: off.
    pub shrink_alert_percent: u32,
    /// Routine archives are sent without a notification sound.
    pub quiet_routine: bool,
}

impl MonitoringConfig {
    /// The address to serve metrics on, if any (validated at load).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_listen.parse().ok()
    }
}

/// `[encryption]`: how archives are sealed, and the keys read at start-up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionConfig {
    /// none, zip-aes or age.
    pub mode: crate::seal::Mode,
    /// zip-aes: the file holding the password.
    pub password_file: PathBuf,
    /// age: the public keys archives are sealed to.
    pub recipients: Vec<String>,
    /// age: a private key for verify and restore (optional).
    pub identity_file: PathBuf,
    /// The secrets read from the files above.
    #[serde(skip)]
    pub keys: crate::seal::Keys,
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
    /// Loads the layers: defaults ← `path` (or `LIFEBOAT_CONFIG`, or
    /// [`SYSTEM_CONFIG`] when it exists) ← env.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
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
        if let Some(file) = &file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Parse(format!("cannot read {}: {e}", file.display())))?;
            upload_limit_given |= sets_upload_limit(&check_syntax(&text, Some(file))?);
        }
        let raw = builder.build().map_err(|e| ConfigError::Parse(describe(e, file.as_deref())))?;
        let env_password = std::env::var(crate::seal::PASSWORD_ENV).ok();
        Self::finish(raw, file.as_deref(), &from_env, upload_limit_given, env_password)
    }

    fn finish(
        mut raw: config::Config,
        file: Option<&Path>,
        from_env: &[String],
        upload_limit_given: bool,
        env_password: Option<String>,
    ) -> Result<Config, ConfigError> {
        check_kinds(&raw, from_env)?;
        // `LIFEBOAT__TELEGRAM__ADMIN_IDS=111` is a list of one: the
        // environment cannot tell one value from a list.
        for key in LIST_KEYS.iter().filter(|k| from_env.iter().any(|e| e == *k)) {
            if let Ok(v) = raw.get::<config::Value>(key)
                && !matches!(v.kind, config::ValueKind::Array(_))
            {
                raw = config::Config::builder()
                    .add_source(raw)
                    .set_override(*key, vec![v])
                    .and_then(|b| b.build())
                    .map_err(|e| ConfigError::Parse(describe(e, file)))?;
            }
        }
        let mut cfg: Config = raw.try_deserialize().map_err(|e| ConfigError::Parse(describe(e, file)))?;
        cfg.file = file.map(Path::to_path_buf);
        cfg.upload_limit_given = upload_limit_given;
        cfg.resolve_token()?;
        cfg.validate()?;
        cfg.resolve_source_passwords()?;
        cfg.resolve_store_keys()?;
        cfg.resolve_messengers()?;
        cfg.resolve_keys(env_password)?;
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
        Self::finish(raw, None, &[], upload_limit_given, None)
    }

    fn resolve_token(&mut self) -> Result<(), ConfigError> {
        let t = &mut self.telegram;
        if t.token.is_empty() && !t.token_file.as_os_str().is_empty() {
            let text = std::fs::read_to_string(&t.token_file)
                .map_err(|e| invalid("telegram.token_file", format!("cannot read {}: {e}", t.token_file.display())))?;
            // An empty file would silently turn delivery off.
            if text.trim().is_empty() {
                return Err(invalid(
                    "telegram.token_file",
                    format!(
                        "{} is empty; put the bot token from @BotFather in it, or set token_file = \"\" to run without Telegram",
                        t.token_file.display()
                    ),
                ));
            }
            if !looks_like_token(text.trim()) {
                return Err(invalid(
                    "telegram.token_file",
                    format!(
                        "{} does not hold a bot token (digits, ':', then 30+ letters, digits, '_' or '-'); copy it from @BotFather",
                        t.token_file.display()
                    ),
                ));
            }
            t.token = Secret::new(text.trim());
        }
        Ok(())
    }

    /// Reads each S3 destination's keys: the files named, else the
    /// standard AWS environment variables.
    fn resolve_store_keys(&mut self) -> Result<(), ConfigError> {
        let mut names: Vec<&str> = Vec::new();
        for d in &mut self.destinations.s3 {
            let key = "destinations.s3";
            if !crate::manifest::is_plain_name(&d.name) || names.contains(&d.name.as_str()) {
                return Err(invalid(
                    key,
                    format!("name {:?} must be a plain name of its own, e.g. \"offsite\"", d.name),
                ));
            }
            names.push(&d.name);
            if d.bucket.trim().is_empty() {
                return Err(invalid(key, format!("\"{}\": bucket is empty; name an existing bucket", d.name)));
            }
            if !d.endpoint.is_empty()
                && !url::Url::parse(&d.endpoint)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            {
                return Err(invalid(
                    key,
                    format!(
                        "\"{}\": endpoint {:?} is not an http(s) URL, e.g. \"http://127.0.0.1:8333\"",
                        d.name, d.endpoint
                    ),
                ));
            }
            if d.prefix.starts_with('/') {
                return Err(invalid(key, format!("\"{}\": prefix must not start with '/'", d.name)));
            }
            if d.access_key_id.is_empty() {
                d.access_key_id = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
            }
            if !d.secret_access_key_file.as_os_str().is_empty() {
                let file = &d.secret_access_key_file;
                let text = std::fs::read_to_string(file).map_err(|e| {
                    invalid(key, format!("\"{}\": cannot read secret_access_key_file {}: {e}", d.name, file.display()))
                })?;
                d.secret_access_key = Secret::new(text.trim());
            } else if let Ok(v) = std::env::var("AWS_SECRET_ACCESS_KEY") {
                d.secret_access_key = Secret::new(v.trim());
            }
            if d.access_key_id.is_empty() || d.secret_access_key.is_empty() {
                return Err(invalid(
                    key,
                    format!(
                        "\"{}\": needs access_key_id and secret_access_key_file (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                        d.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads the Discord webhook URL and the SMTP password from their files
    /// and checks the rest of `[destinations.discord]` and `.email]`. No
    /// message quotes a secret.
    fn resolve_messengers(&mut self) -> Result<(), ConfigError> {
        let read = |key: &'static str, what: &str, file: &Path| -> Result<String, ConfigError> {
            let text = std::fs::read_to_string(file)
                .map_err(|e| invalid(key, format!("cannot read {what} {}: {e}", file.display())))?;
            let text = text.trim_end_matches(['\r', '\n']);
            if text.trim().is_empty() {
                return Err(invalid(key, format!("{what} {} is empty", file.display())));
            }
            Ok(text.to_string())
        };
        let d = &mut self.destinations.discord;
        if !(1..=500).contains(&d.max_upload_mb) {
            return Err(invalid(
                "destinations.discord.max_upload_mb",
                format!("{} is out of range; use 10 (Discord's limit without boosts), at most 500", d.max_upload_mb),
            ));
        }
        if !d.webhook_url_file.as_os_str().is_empty() {
            let key = "destinations.discord.webhook_url_file";
            let url = read(key, "webhook_url_file", &d.webhook_url_file)?;
            let url = url.trim();
            if !url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
                return Err(invalid(
                    key,
                    format!(
                        "{} does not hold a webhook URL; copy it from the channel's Integrations → Webhooks (https://discord.com/api/webhooks/…)",
                        d.webhook_url_file.display()
                    ),
                ));
            }
            d.webhook_url = Secret::new(url);
        }
        let e = &mut self.destinations.email;
        if !(1..=1000).contains(&e.max_attachment_mb) {
            return Err(invalid(
                "destinations.email.max_attachment_mb",
                format!(
                    "{} is out of range; use what the relay accepts (often 20 or 25), at most 1000",
                    e.max_attachment_mb
                ),
            ));
        }
        if e.smtp_url.is_empty() {
            return Ok(());
        }
        let url =
            url::Url::parse(&e.smtp_url).ok().filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some());
        let Some(url) = url else {
            return Err(invalid(
                "destinations.email.smtp_url",
                "not an SMTP URL; e.g. \"smtps://backup@smtp.example.com:465\" or \"smtp://backup@smtp.example.com:587?tls=required\"",
            ));
        };
        if url.password().is_some() {
            return Err(invalid(
                "destinations.email.smtp_url",
                "holds a password; remove it from the URL and put it in destinations.email.password_file",
            ));
        }
        if !e.password_file.as_os_str().is_empty() {
            if url.username().is_empty() {
                return Err(invalid(
                    "destinations.email.smtp_url",
                    "names no user for password_file; e.g. \"smtps://backup@smtp.example.com:465\"",
                ));
            }
            e.password = Secret::new(read("destinations.email.password_file", "password_file", &e.password_file)?);
        }
        let mailbox = |a: &str| a.contains('@') && !a.trim().starts_with('@') && !a.trim().ends_with('@');
        if !mailbox(&e.from) {
            return Err(invalid(
                "destinations.email.from",
                format!("{:?} is not an address, e.g. \"Lifeboat <backup@example.com>\"", e.from),
            ));
        }
        if e.to.is_empty() {
            return Err(invalid("destinations.email.to", "is empty; list who gets the archives and alerts"));
        }
        if let Some(bad) = e.to.iter().find(|a| !mailbox(a)) {
            return Err(invalid(
                "destinations.email.to",
                format!("{bad:?} is not an address, e.g. \"ops@example.com\""),
            ));
        }
        Ok(())
    }

    /// Reads each server source's `password_file`.
    fn resolve_source_passwords(&mut self) -> Result<(), ConfigError> {
        let read = |key: &'static str, name: &str, file: &Path| -> Result<Option<Secret>, ConfigError> {
            if file.as_os_str().is_empty() {
                return Ok(None);
            }
            let text = std::fs::read_to_string(file)
                .map_err(|e| invalid(key, format!("\"{name}\": cannot read password_file {}: {e}", file.display())))?;
            let password = text.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                return Err(invalid(key, format!("\"{name}\": password_file {} is empty", file.display())));
            }
            Ok(Some(Secret::new(password)))
        };
        for p in &mut self.sources.postgres {
            p.password = read("sources.postgres", &p.name, &p.password_file)?;
        }
        for r in &mut self.sources.redis {
            r.password = read("sources.redis", &r.name, &r.password_file)?;
        }
        Ok(())
    }

    /// Reads the encryption secrets the mode needs (`env_password`: the
    /// value of [`crate::seal::PASSWORD_ENV`]); a mode without a usable
    /// secret stops here, naming the key.
    fn resolve_keys(&mut self, env_password: Option<String>) -> Result<(), ConfigError> {
        use crate::seal::{Keys, Mode, PASSWORD_ENV};
        let e = &mut self.encryption;
        let unusable = |key, err: crate::seal::KeyError| invalid(key, err.to_string());
        if !e.password_file.as_os_str().is_empty() {
            let password =
                Keys::read_password_file(&e.password_file).map_err(|x| unusable("encryption.password_file", x))?;
            let from = e.password_file.display().to_string();
            e.keys.set_password(password, from);
        } else if let Some(p) = env_password.filter(|p| !p.trim().is_empty()) {
            e.keys.set_password(Secret::new(p), PASSWORD_ENV);
        }
        if !e.identity_file.as_os_str().is_empty() {
            let file = e.identity_file.clone();
            e.keys.set_identity_file(&file).map_err(|x| unusable("encryption.identity_file", x))?;
        }
        for r in &e.recipients {
            crate::seal::parse_recipient(r).map_err(|why| invalid("encryption.recipients", why))?;
        }
        match e.mode {
            Mode::ZipAes if e.keys.password().is_none() => Err(invalid(
                "encryption.password_file",
                format!(
                    "mode = \"zip-aes\" needs a password: put it in a file (chmod 600) and name it here, or set {PASSWORD_ENV}"
                ),
            )),
            Mode::Age if e.recipients.is_empty() => Err(invalid(
                "encryption.recipients",
                "mode = \"age\" needs at least one public key, e.g. recipients = [\"age1…\"] from `age-keygen -y key.txt`",
            )),
            // Checked now: otherwise every backup would fail its read-back.
            Mode::Age
                if e.keys.has_identity() && !crate::seal::identity_matches(&e.keys, &e.recipients).unwrap_or(false) =>
            {
                Err(invalid(
                    "encryption.identity_file",
                    format!(
                        "the key in {} opens none of encryption.recipients; add its public key (age-keygen -y {}) to recipients, or name the right file",
                        e.identity_file.display(),
                        e.identity_file.display()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }

    /// Checks every value; the first problem is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let b = &self.backup;
        if b.databases.is_empty() && self.sources.is_empty() {
            return Err(invalid(
                "backup.databases",
                "is empty and no [[sources.*]] is configured; list the database file names inside backup.source_dir",
            ));
        }
        checks::check_sources(self)?;
        for (i, name) in b.databases.iter().enumerate() {
            if let Some(why) = crate::manifest::database_name_problem(name) {
                return Err(invalid(
                    "backup.databases",
                    format!("{name:?} {why}; give database file names inside backup.source_dir"),
                ));
            }
            if b.databases[..i].contains(name) {
                return Err(invalid("backup.databases", format!("{name:?} is listed twice")));
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
        check_apart(&b.source_dir, &b.output_dir)?;
        if !(0..=9).contains(&b.compression_level) {
            return Err(invalid(
                "backup.compression_level",
                format!("is {}; allowed: 0 (store) to 9 (smallest)", b.compression_level),
            ));
        }
        crate::schedule::parse(&self.schedule.cron).map_err(|e| invalid("schedule.cron", e))?;
        if !self.schedule.full_cron.is_empty() {
            crate::schedule::parse(&self.schedule.full_cron).map_err(|e| invalid("schedule.full_cron", e))?;
        }
        let r = &self.retention;
        if !(1..=MAX_AGE_DAYS).contains(&r.max_age_days) {
            return Err(invalid(
                "retention.max_age_days",
                format!("is {}; allowed: 1 to {MAX_AGE_DAYS} days", r.max_age_days),
            ));
        }
        if !(1..=1_000_000).contains(&r.max_count) {
            return Err(invalid("retention.max_count", format!("is {}; allowed: 1 to 1000000 archives", r.max_count)));
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
        if !(10..=86_400).contains(&t.upload_timeout_secs) {
            return Err(invalid(
                "telegram.upload_timeout_secs",
                format!("is {}; allowed: 10 to 86400 seconds", t.upload_timeout_secs),
            ));
        }
        if t.owner_id < 0 {
            return Err(invalid(
                "telegram.owner_id",
                format!("is {}; give a Telegram user id, or 0 for nobody", t.owner_id),
            ));
        }
        let y = &self.retry;
        if !(1..=100).contains(&y.attempts) {
            return Err(invalid("retry.attempts", format!("is {}; allowed: 1 to 100", y.attempts)));
        }
        for (key, secs) in
            [("retry.initial_delay_secs", y.initial_delay_secs), ("retry.max_delay_secs", y.max_delay_secs)]
        {
            if secs > MAX_RETRY_DELAY_SECS {
                return Err(invalid(
                    key,
                    format!("is {secs}; allowed: 0 to {MAX_RETRY_DELAY_SECS} seconds (a longer wait stalls the cycle)"),
                ));
            }
        }
        if y.max_delay_secs < y.initial_delay_secs {
            return Err(invalid(
                "retry.max_delay_secs",
                format!("({}) is below retry.initial_delay_secs ({})", y.max_delay_secs, y.initial_delay_secs),
            ));
        }
        for (key, n) in [
            ("retention.keep_hourly", r.keep_hourly),
            ("retention.keep_daily", r.keep_daily),
            ("retention.keep_weekly", r.keep_weekly),
            ("retention.keep_monthly", r.keep_monthly),
        ] {
            if n > 100_000 {
                return Err(invalid(key, format!("is {n}; allowed: 0 (off) to 100000")));
            }
        }
        self.validate_monitoring()
    }

    fn validate_monitoring(&self) -> Result<(), ConfigError> {
        let m = &self.monitoring;
        if m.stale_after_minutes > 60 * 24 * 366 {
            return Err(invalid(
                "monitoring.stale_after_minutes",
                format!("is {}; allowed: 0 (off) to 527040 (a year)", m.stale_after_minutes),
            ));
        }
        if !m.ping_url.is_empty() {
            let ok = url::Url::parse(&m.ping_url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid(
                    "monitoring.ping_url",
                    format!("{:?} is not an http(s) URL; e.g. \"https://hc-ping.com/<uuid>\"", m.ping_url),
                ));
            }
        }
        if !m.metrics_listen.is_empty() && m.metrics_addr().is_none() {
            return Err(invalid(
                "monitoring.metrics_listen",
                format!("{:?} is not an address and port; e.g. \"127.0.0.1:9464\"", m.metrics_listen),
            ));
        }
        if m.metrics_file.is_dir() {
            return Err(invalid(
                "monitoring.metrics_file",
                format!(
                    "{} is a folder; give a file path, e.g. /var/lib/node_exporter/lifeboat.prom",
                    m.metrics_file.display()
                ),
            ));
        }
        if m.shrink_alert_percent > 100 {
            return Err(invalid(
                "monitoring.shrink_alert_percent",
                format!("is {}; allowed: 0 (off) to 100", m.shrink_alert_percent),
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

    /// The size archives are split at: the upload limit when Telegram
    /// delivers them, or when `max_upload_mb` was set on purpose (parts to
    /// carry elsewhere). Without either, archives stay whole: nothing needs
    /// parts, and one file is simpler to handle.
    pub fn split_bytes(&self) -> Option<u64> {
        (self.delivery_enabled() || self.upload_limit_given).then(|| self.max_upload_bytes())
    }
}

const UPLOAD_LIMIT_KEY: &str = "telegram.max_upload_mb";

fn sets_upload_limit(file: &toml::Table) -> bool {
    file.get("telegram").and_then(|t| t.get("max_upload_mb")).is_some()
}

/// Keys holding lists, comma-separated in the environment.
const LIST_KEYS: [&str; 3] = ["backup.databases", "telegram.admin_ids", "encryption.recipients"];

/// `LIFEBOAT__SECTION__KEY` variables (or `vars`, for tests); lists are
/// comma-separated.
fn env_source(vars: Option<config::Map<String, String>>) -> config::Environment {
    config::Environment::with_prefix("LIFEBOAT")
        .prefix_separator("__")
        .separator("__")
        .list_separator(",")
        .with_list_parse_key(LIST_KEYS[0])
        .with_list_parse_key(LIST_KEYS[1])
        .with_list_parse_key(LIST_KEYS[2])
        .try_parsing(true)
        .source(vars)
}

/// The keys the environment sets, as `section.key`.
fn env_keys(env: &config::Environment) -> Result<Vec<String>, ConfigError> {
    use config::Source;
    Ok(env.collect().map_err(|e| ConfigError::Parse(e.to_string()))?.into_keys().collect())
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
mod tests;
