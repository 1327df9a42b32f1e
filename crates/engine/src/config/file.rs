//! The configuration as written: the sections whose values are text in the
//! file (a crontab expression, a URL, an address, a public key) read as that
//! text, then parsed once into [`Config`]'s typed values by
//! [`ConfigFile::parse`]. Each value that does not parse is an error naming
//! its key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use super::value::http_url;
use super::{
    BackupConfig, Config, ConfigError, ContinuousConfig, EncryptionConfig, HooksConfig, MonitoringConfig,
    RetentionConfig, RetryConfig, ScheduleConfig, invalid,
};
use crate::destinations::{Bots, BotsFile, DestinationsFile};
use lifeboat_core::schedule::Schedule;
use lifeboat_telegram::section::TelegramFile;

/// Every section, as the merged layers hold it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConfigFile {
    backup: BackupConfig,
    schedule: ScheduleFile,
    retention: RetentionConfig,
    telegram: TelegramFile,
    retry: RetryConfig,
    monitoring: MonitoringFile,
    encryption: EncryptionFile,
    hooks: HooksConfig,
    continuous: ContinuousConfig,
    #[serde(default)]
    sources: lifeboat_core::source::SourcesConfig,
    #[serde(default)]
    destinations: DestinationsFile,
}

/// Refuses a top-level table that is neither one of the engine's sections
/// nor a bot's, as serde refuses an unknown field, listing them all (the
/// bots' after Telegram's, as in the defaults' file).
pub(super) fn refuse_unknown_tables(top: &config::Map<String, config::Value>) -> Result<(), config::ConfigError> {
    static TABLES: OnceLock<&'static [&'static str]> = OnceLock::new();
    let tables = TABLES.get_or_init(|| {
        let engine = field_names::<ConfigFile>();
        let after = engine.iter().position(|t| *t == "telegram").map_or(engine.len(), |i| i + 1);
        let tables: Vec<&'static str> =
            engine[..after].iter().copied().chain(Bots::tables()).chain(engine[after..].iter().copied()).collect();
        tables.leak()
    });
    match top.keys().find(|k| !tables.contains(&k.as_str())) {
        Some(unknown) => Err(serde::de::Error::unknown_field(unknown, tables)),
        None => Ok(()),
    }
}

/// The names of the fields of the struct `T`, as serde lists them.
fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields = None;
    let _ = T::deserialize(FieldNames(&mut fields));
    fields.unwrap_or_default()
}

/// A deserializer that reads nothing but the field names a struct asks for.
struct FieldNames<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> serde::Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: serde::de::Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(serde::de::Error::custom("only a struct's field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// `[schedule]`, see [`ScheduleConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    cron: String,
    full_cron: String,
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
    mode: lifeboat_core::seal::Mode,
    password_file: PathBuf,
    recipients: Vec<String>,
    identity_file: PathBuf,
}

impl ConfigFile {
    /// Parses every value written as text, and the sections of `bots`;
    /// the rest of the checks are [`Config::validate`]'s and the secrets'
    /// resolution.
    pub(super) fn parse(self, bots: BotsFile) -> Result<Config, ConfigError> {
        Ok(Config {
            backup: self.backup,
            schedule: self.schedule.parse()?,
            retention: self.retention,
            telegram: self.telegram.parse()?,
            bots: bots.parse()?,
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
            .map(|r| {
                lifeboat_core::seal::parse_recipient(r).map_err(|why| invalid("encryption.recipients", why.to_string()))
            })
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
