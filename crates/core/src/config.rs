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
        let env = env_source(None);
        let from_env = env_keys(&env)?;
        builder = builder.add_source(env);
        if let Some(file) = &file {
            let text = std::fs::read_to_string(file)
                .map_err(|e| ConfigError::Parse(format!("cannot read {}: {e}", file.display())))?;
            check_syntax(&text, Some(file))?;
        }
        let raw = builder.build().map_err(|e| ConfigError::Parse(describe(e, file.as_deref())))?;
        Self::finish(raw, file.as_deref(), &from_env)
    }

    fn finish(mut raw: config::Config, file: Option<&Path>, from_env: &[String]) -> Result<Config, ConfigError> {
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
        cfg.resolve_token()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses one TOML document over the defaults, without env or files.
    /// For tests and tools; [`Config::load`] is what the binaries use.
    pub fn from_toml(toml: &str) -> Result<Config, ConfigError> {
        check_syntax(toml, None)?;
        let raw = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml))
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::Parse(describe(e, None)))?;
        Self::finish(raw, None, &[])
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

    /// Checks every value; the first problem is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let b = &self.backup;
        if b.databases.is_empty() {
            return Err(invalid("backup.databases", "is empty; list the database file names inside backup.source_dir"));
        }
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

/// Keys holding lists, comma-separated in the environment.
const LIST_KEYS: [&str; 2] = ["backup.databases", "telegram.admin_ids"];

/// `LIFEBOAT__SECTION__KEY` variables (or `vars`, for tests); lists are
/// comma-separated.
fn env_source(vars: Option<config::Map<String, String>>) -> config::Environment {
    config::Environment::with_prefix("LIFEBOAT")
        .prefix_separator("__")
        .separator("__")
        .list_separator(",")
        .with_list_parse_key(LIST_KEYS[0])
        .with_list_parse_key(LIST_KEYS[1])
        .try_parsing(true)
        .source(vars)
}

/// The keys the environment sets, as `section.key`.
fn env_keys(env: &config::Environment) -> Result<Vec<String>, ConfigError> {
    use config::Source;
    Ok(env.collect().map_err(|e| ConfigError::Parse(e.to_string()))?.into_keys().collect())
}

/// A folder as it will be once it exists: the longest existing ancestor
/// resolved through symbolic links, the rest appended.
fn resolved(dir: &Path) -> PathBuf {
    let abs = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for ancestor in abs.ancestors() {
        if let Ok(real) = ancestor.canonicalize() {
            let rest = abs.strip_prefix(ancestor).unwrap_or(Path::new(""));
            return real.join(rest);
        }
    }
    abs
}

/// The bot's folder and Lifeboat's must not contain each other: output_dir
/// is made private and fills with archives and state, which must never mix
/// with (or re-permission) the live databases.
fn check_apart(source: &Path, output: &Path) -> Result<(), ConfigError> {
    let (s, o) = (resolved(source), resolved(output));
    let problem = if s == o {
        "is the same folder as backup.source_dir"
    } else if o.starts_with(&s) {
        "is inside backup.source_dir"
    } else if s.starts_with(&o) {
        "contains backup.source_dir"
    } else {
        return Ok(());
    };
    Err(invalid(
        "backup.output_dir",
        format!(
            "{} {problem} ({}); archives and Lifeboat's state need a folder of their own, beside the bot's data, e.g. {}",
            output.display(),
            source.display(),
            s.with_file_name("backups").display()
        ),
    ))
}

/// What a key's value must be, from its default (arrays: their elements).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Text,
    Bool,
    Float,
    List(Option<&'static Kind>),
}

/// Element kinds of lists whose default is empty.
const LIST_ELEMENTS: &[(&str, Kind)] = &[("telegram.admin_ids", Kind::Int)];

fn kind_of(v: &config::ValueKind) -> Option<Kind> {
    use config::ValueKind as V;
    Some(match v {
        V::I64(_) | V::I128(_) | V::U64(_) | V::U128(_) => Kind::Int,
        V::String(_) => Kind::Text,
        V::Boolean(_) => Kind::Bool,
        V::Float(_) => Kind::Float,
        V::Array(_) => Kind::List(None),
        V::Nil | V::Table(_) => return None,
    })
}

fn describe_value(v: &config::ValueKind) -> String {
    use config::ValueKind as V;
    match v {
        V::String(s) => format!("the text {s:?}"),
        V::Float(f) => format!("the fraction {f}"),
        V::Boolean(b) => format!("{b}"),
        V::Array(_) => "a list".to_string(),
        V::Table(_) => "a section".to_string(),
        other => format!("{other}"),
    }
}

fn expectation(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "a whole number, without quotes",
        Kind::Text => "text in quotes",
        Kind::Bool => "true or false",
        Kind::Float => "a number",
        Kind::List(_) => "a list in [ ]",
    }
}

/// The `config` crate quietly turns "111" into 111 and 5.7 into 5; a typo
/// must be an error naming its key instead. Each key of the defaults must
/// keep its default's kind; values from the environment are text by nature,
/// so there only what does not parse as the kind is refused.
fn check_kinds(raw: &config::Config, from_env: &[String]) -> Result<(), ConfigError> {
    let defaults: toml::Table = toml::from_str(DEFAULT_TOML).expect("the built-in defaults parse");
    for (section, keys) in &defaults {
        let Some(keys) = keys.as_table() else { continue };
        for (key, default) in keys {
            let path = format!("{section}.{key}");
            let want = match default {
                toml::Value::Integer(_) => Kind::Int,
                toml::Value::String(_) => Kind::Text,
                toml::Value::Boolean(_) => Kind::Bool,
                toml::Value::Float(_) => Kind::Float,
                toml::Value::Array(a) => Kind::List(match a.first() {
                    Some(toml::Value::Integer(_)) => Some(&Kind::Int),
                    Some(toml::Value::String(_)) => Some(&Kind::Text),
                    _ => LIST_ELEMENTS.iter().find(|(k, _)| *k == path).map(|(_, kind)| kind),
                }),
                _ => continue,
            };
            let Ok(value) = raw.get::<config::Value>(&path) else { continue };
            check_value(&path, &value, want, from_env.contains(&path))?;
        }
    }
    Ok(())
}

fn check_value(path: &str, value: &config::Value, want: Kind, from_env: bool) -> Result<(), ConfigError> {
    let leak = |key: &str| key.ends_with("token");
    let fail = |what: String| {
        // The key is named; a token's value never is.
        let what = if leak(path) { "a value of the wrong kind".to_string() } else { what };
        Err(ConfigError::Parse(format!("key `{path}` is {what}; give {}", expectation(want))))
    };
    let found = kind_of(&value.kind);
    match (want, found) {
        (Kind::List(elem), Some(Kind::List(_))) => {
            let config::ValueKind::Array(items) = &value.kind else { unreachable!() };
            if let Some(elem) = elem {
                for item in items {
                    check_value(path, item, *elem, from_env).map_err(|_| {
                        ConfigError::Parse(format!(
                            "key `{path}` holds {}; each item must be {}",
                            describe_value(&item.kind),
                            expectation(*elem)
                        ))
                    })?;
                }
            }
            Ok(())
        }
        // One value from the environment is a list of one.
        (Kind::List(Some(elem)), Some(_)) if from_env => check_value(path, value, *elem, from_env),
        (want, Some(found)) if want == found => Ok(()),
        (Kind::Text, Some(_)) if from_env => Ok(()),
        (Kind::Int, Some(Kind::Text)) if from_env => match &value.kind {
            config::ValueKind::String(s) if s.trim().parse::<i64>().is_ok() => Ok(()),
            _ => fail(describe_value(&value.kind)),
        },
        (Kind::Int, Some(Kind::Float)) => match &value.kind {
            config::ValueKind::Float(f) if f.fract() == 0.0 => fail(format!("{f}, too large (at most {})", i64::MAX)),
            _ => fail(describe_value(&value.kind)),
        },
        _ => fail(describe_value(&value.kind)),
    }
}

/// TOML syntax errors from `config` lose the line; this names the line and
/// its key (never its value: it may be a token).
fn check_syntax(text: &str, file: Option<&Path>) -> Result<(), ConfigError> {
    let Err(e) = toml::from_str::<toml::Table>(text) else { return Ok(()) };
    let place = match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("");
            let section = text
                .lines()
                .take(line_no)
                .filter_map(|l| l.trim().strip_prefix('[').and_then(|l| l.strip_suffix(']')))
                .last()
                .map(|s| format!("{}.", s.trim()))
                .unwrap_or_default();
            match line.split_once('=') {
                Some((key, _)) => format!("line {line_no}, key `{section}{}`", key.trim()),
                None => format!("line {line_no}"),
            }
        }
        None => "somewhere".to_string(),
    };
    let file = file.map(|f| format!(" of {}", f.display())).unwrap_or_default();
    Err(ConfigError::Parse(format!("{place}{file}: {}", e.message().trim())))
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
    fn loose_types_are_refused_with_their_key() {
        let cases = [
            ("[telegram]\nadmin_ids = [\"111\"]", "telegram.admin_ids"),
            ("[telegram]\nadmin_ids = [111, 2.5]", "telegram.admin_ids"),
            ("[backup]\ncompression_level = 5.7", "backup.compression_level"),
            ("[telegram]\nmax_upload_mb = 1.5", "telegram.max_upload_mb"),
            ("[telegram]\nowner_id = \"111\"", "telegram.owner_id"),
            ("[backup]\nsource_dir = 5", "backup.source_dir"),
            ("[backup]\ndatabases = \"a.db\"", "backup.databases"),
            ("[retention]\nmax_age_days = 99999999999999999999", "retention.max_age_days"),
            ("[telegram]\nmax_upload_mb = 18446744073709551616", "telegram.max_upload_mb"),
        ];
        for (toml, key) in cases {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, expected it to name {key}");
        }
        let err = Config::from_toml("[telegram]\ntoken = 123456").unwrap_err().to_string();
        assert!(err.contains("telegram.token") && !err.contains("123456"), "{err}");
    }

    #[test]
    fn durations_are_bounded_so_dates_fit() {
        let cases = [
            ("[retention]\nmax_age_days = 9223372036854775807", "retention.max_age_days"),
            ("[retention]\nmax_age_days = 36501", "retention.max_age_days"),
            ("[retry]\ninitial_delay_secs = 601\nmax_delay_secs = 900", "retry.initial_delay_secs"),
            ("[retry]\nmax_delay_secs = 18446744073709551615", "retry.max_delay_secs"),
            ("[telegram]\nupload_timeout_secs = 9999999999", "telegram.upload_timeout_secs"),
        ];
        for (toml, key) in cases {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml:?} gave {err:?}, expected it to name {key}");
        }
        let cfg = Config::from_toml("[retention]\nmax_age_days = 36500\n[retry]\nmax_delay_secs = 600").unwrap();
        assert!(chrono::TimeDelta::try_days(cfg.retention.max_age_days).is_some());
    }

    #[test]
    fn environment_values_are_text_and_parse_as_their_kind() {
        let env = |pairs: &[(&str, &str)]| {
            let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let source = env_source(Some(map));
            let keys = env_keys(&source).unwrap();
            let raw = config::Config::builder()
                .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml))
                .add_source(source)
                .build()
                .unwrap();
            Config::finish(raw, None, &keys)
        };
        let cfg =
            env(&[("LIFEBOAT__TELEGRAM__ADMIN_IDS", "111,222"), ("LIFEBOAT__BACKUP__SOURCE_DIR", "2024")]).unwrap();
        assert_eq!(cfg.telegram.admin_ids, [111, 222]);
        assert_eq!(cfg.backup.source_dir, Path::new("2024"));
        assert_eq!(env(&[("LIFEBOAT__TELEGRAM__ADMIN_IDS", "111")]).unwrap().telegram.admin_ids, [111]);
        for (k, v) in [
            ("LIFEBOAT__TELEGRAM__ADMIN_IDS", "111,bob"),
            ("LIFEBOAT__BACKUP__COMPRESSION_LEVEL", "5.7"),
            ("LIFEBOAT__RETENTION__MAX_AGE_DAYS", "99999999999999999999"),
        ] {
            let err = env(&[(k, v)]).unwrap_err().to_string();
            let key = k.trim_start_matches("LIFEBOAT__").replace("__", ".").to_lowercase();
            assert!(err.contains(&key), "{k}={v} gave {err:?}");
        }
    }

    #[test]
    fn source_and_output_folders_must_be_apart() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::symlink(&data, d.path().join("link")).unwrap();
        let cfg = |src: &Path, out: &Path| {
            Config::from_toml(&format!("[backup]\nsource_dir = {:?}\noutput_dir = {:?}", src, out))
        };
        for (src, out) in [
            (data.clone(), data.clone()),
            (data.clone(), data.join("backups")),
            (data.join("bot"), data.clone()),
            (data.clone(), d.path().join("link/../data")),
            (data.clone(), d.path().join("link/out")),
        ] {
            let err = cfg(&src, &out).unwrap_err().to_string();
            assert!(err.contains("backup.output_dir") && err.contains("backup.source_dir"), "{src:?} {out:?}: {err}");
        }
        cfg(&data, &d.path().join("backups")).unwrap();
        cfg(&data, &d.path().join("data-backups")).unwrap();
    }

    #[test]
    fn an_empty_or_wrong_token_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        for text in ["", "\n", "not a token"] {
            std::fs::write(&f, text).unwrap();
            let err = Config::from_toml(&format!("[telegram]\ntoken_file = {:?}", f)).unwrap_err().to_string();
            assert!(err.contains("telegram.token_file"), "{text:?}: {err}");
            assert!(!text.is_empty() || err.contains("empty"), "{err}");
        }
    }

    #[test]
    fn database_names_may_not_be_journal_files() {
        for name in ["bot.db-wal", "bot.db-shm", "bot.db-journal", "manifest.json"] {
            let err = Config::from_toml(&format!("[backup]\ndatabases = [{name:?}]")).unwrap_err().to_string();
            assert!(err.contains("backup.databases"), "{name}: {err}");
        }
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
