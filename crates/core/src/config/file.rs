//! The configuration as written: the sections whose values are text in the
//! file (a crontab expression, a URL, an address, a public key) read as that
//! text, then parsed once into [`Config`]'s typed values by
//! [`ConfigFile::parse`]. Each value that does not parse is an error naming
//! its key.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::value::http_url;
use super::{
    BackupConfig, Config, ConfigError, ContinuousConfig, DiscordBotConfig, EncryptionConfig, HooksConfig,
    MonitoringConfig, RetentionConfig, RetryConfig, ScheduleConfig, Secret, TelegramConfig, invalid,
};
use crate::destination::DestinationsFile;
use crate::schedule::Schedule;

/// Every section, as the merged layers hold it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    backup: BackupConfig,
    schedule: ScheduleFile,
    retention: RetentionConfig,
    telegram: TelegramFile,
    discord: DiscordFile,
    retry: RetryConfig,
    monitoring: MonitoringFile,
    encryption: EncryptionFile,
    hooks: HooksConfig,
    continuous: ContinuousConfig,
    #[serde(default)]
    sources: crate::source::SourcesConfig,
    #[serde(default)]
    destinations: DestinationsFile,
}

/// `[schedule]`, see [`ScheduleConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    cron: String,
    full_cron: String,
}

/// `[telegram]`, see [`TelegramConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelegramFile {
    token: Secret,
    token_file: PathBuf,
    api_url: String,
    admin_ids: Vec<i64>,
    owner_id: i64,
    max_upload_mb: u64,
    upload_timeout_secs: u64,
}

/// `[discord]`, see [`DiscordBotConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscordFile {
    token_file: PathBuf,
    api_url: String,
    owner_id: u64,
    admin_ids: Vec<u64>,
}

/// `[monitoring]`, see [`MonitoringConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitoringFile {
    stale_after_minutes: u64,
    ping_url: String,
    metrics_file: PathBuf,
    metrics_listen: String,
    shrink_alert_percent: u32,
    shrink_alert_rows: u64,
    quiet_routine: bool,
}

/// `[encryption]`, see [`EncryptionConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptionFile {
    mode: crate::seal::Mode,
    password_file: PathBuf,
    recipients: Vec<String>,
    identity_file: PathBuf,
}

impl ConfigFile {
    /// Parses every value written as text; the rest of the checks are
    /// [`Config::validate`]'s and the secrets' resolution.
    pub(super) fn parse(self) -> Result<Config, ConfigError> {
        Ok(Config {
            backup: self.backup,
            schedule: self.schedule.parse()?,
            retention: self.retention,
            telegram: self.telegram.parse()?,
            discord: self.discord.parse()?,
            retry: self.retry,
            monitoring: self.monitoring.parse()?,
            encryption: self.encryption.parse()?,
            hooks: self.hooks,
            continuous: self.continuous,
            sources: self.sources,
            destinations: self.destinations.parse()?,
            file: None,
            upload_limit_given: false,
            file_holds_secret: false,
            unread_secrets: Vec::new(),
        })
    }
}

impl ScheduleFile {
    fn parse(self) -> Result<ScheduleConfig, ConfigError> {
        let cron = self.cron.parse::<Schedule>().map_err(|e| invalid("schedule.cron", e.to_string()))?;
        let full_cron = match self.full_cron.as_str() {
            "" => None,
            text => Some(text.parse::<Schedule>().map_err(|e| invalid("schedule.full_cron", e.to_string()))?),
        };
        Ok(ScheduleConfig { cron, full_cron })
    }
}

impl TelegramFile {
    fn parse(self) -> Result<TelegramConfig, ConfigError> {
        let api_url = http_url(&self.api_url)
            .ok_or_else(|| invalid("telegram.api_url", format!("{:?} is not an http(s) URL", self.api_url)))?;
        Ok(TelegramConfig {
            token: self.token,
            token_file: self.token_file,
            api_url,
            admin_ids: self.admin_ids,
            owner_id: self.owner_id,
            max_upload_mb: self.max_upload_mb,
            upload_timeout_secs: self.upload_timeout_secs,
        })
    }
}

impl DiscordFile {
    fn parse(self) -> Result<DiscordBotConfig, ConfigError> {
        let api_url = http_url(&self.api_url).ok_or_else(|| {
            invalid(
                "discord.api_url",
                format!("{:?} is not an http(s) URL; e.g. \"{}\"", self.api_url, DiscordBotConfig::OFFICIAL_API),
            )
        })?;
        Ok(DiscordBotConfig {
            token: Secret::default(),
            token_file: self.token_file,
            api_url,
            owner_id: self.owner_id,
            admin_ids: self.admin_ids,
        })
    }
}

impl MonitoringFile {
    fn parse(self) -> Result<MonitoringConfig, ConfigError> {
        let ping_url = match self.ping_url.as_str() {
            "" => None,
            text => Some(http_url(text).ok_or_else(|| {
                invalid(
                    "monitoring.ping_url",
                    format!("{text:?} is not an http(s) URL; e.g. \"https://hc-ping.com/<uuid>\""),
                )
            })?),
        };
        let metrics_listen = match self.metrics_listen.as_str() {
            "" => None,
            text => Some(text.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "monitoring.metrics_listen",
                    format!("{text:?} is not an address and port; e.g. \"127.0.0.1:9464\""),
                )
            })?),
        };
        Ok(MonitoringConfig {
            stale_after_minutes: self.stale_after_minutes,
            ping_url,
            metrics_file: self.metrics_file,
            metrics_listen,
            shrink_alert_percent: self.shrink_alert_percent,
            shrink_alert_rows: self.shrink_alert_rows,
            quiet_routine: self.quiet_routine,
        })
    }
}

impl EncryptionFile {
    fn parse(self) -> Result<EncryptionConfig, ConfigError> {
        let recipients = self
            .recipients
            .iter()
            .map(|r| crate::seal::parse_recipient(r).map_err(|why| invalid("encryption.recipients", why.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(EncryptionConfig {
            mode: self.mode,
            password_file: self.password_file,
            recipients,
            identity_file: self.identity_file,
            keys: Default::default(),
        })
    }
}
