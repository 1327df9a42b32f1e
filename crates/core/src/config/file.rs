//! The configuration as written: the sections whose values are text in the
//! file (a crontab expression, a URL, an address, a public key) read as that
//! text, then parsed once into [`Config`]'s typed values by
//! [`ConfigFile::parse`]. Each value that does not parse is an error naming
//! its key.

use std::net::SocketAddr;
use std::path::PathBuf;

use lettre::message::Mailbox;
use serde::Deserialize;
use url::Url;

use super::{
    BackupConfig, Config, ConfigError, ContinuousConfig, DiscordBotConfig, EncryptionConfig, HooksConfig,
    MonitoringConfig, RetentionConfig, RetryConfig, ScheduleConfig, Secret, TelegramConfig, invalid,
};
use crate::destination::{DestinationsConfig, DiscordConfig, EmailConfig, S3Config, WebhookConfig, WebhookFormat};
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

/// `[destinations]`, see [`DestinationsConfig`].
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationsFile {
    #[serde(default)]
    s3: Vec<S3File>,
    #[serde(default)]
    discord: DiscordConfig,
    #[serde(default)]
    email: EmailFile,
    #[serde(default)]
    webhook: Vec<WebhookFile>,
}

/// One `[[destinations.s3]]`, see [`S3Config`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct S3File {
    name: String,
    #[serde(default)]
    endpoint: String,
    bucket: String,
    #[serde(default)]
    prefix: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    access_key_id: String,
    #[serde(default)]
    secret_access_key_file: PathBuf,
    #[serde(default = "default_s3_timeout")]
    timeout_secs: u64,
}

fn default_s3_timeout() -> u64 {
    300
}

fn default_region() -> String {
    "us-east-1".to_string()
}

/// One `[[destinations.webhook]]`, see [`WebhookConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookFile {
    name: String,
    #[serde(default)]
    url_file: PathBuf,
    #[serde(default = "json_format")]
    format: String,
}

fn json_format() -> String {
    WebhookFormat::Json.as_str().to_string()
}

/// `[destinations.email]`, see [`EmailConfig`]; every key may be left out.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct EmailFile {
    smtp_url: String,
    password_file: PathBuf,
    from: String,
    to: Vec<String>,
    max_attachment_mb: u64,
    timeout_secs: u64,
}

impl Default for EmailFile {
    fn default() -> Self {
        let d = EmailConfig::default();
        EmailFile {
            smtp_url: String::new(),
            password_file: d.password_file,
            from: String::new(),
            to: Vec::new(),
            max_attachment_mb: d.max_attachment_mb,
            timeout_secs: d.timeout_secs,
        }
    }
}

/// An http(s) URL with a host, or None.
pub(super) fn http_url(text: &str) -> Option<Url> {
    Url::parse(text).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
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

impl DestinationsFile {
    fn parse(self) -> Result<DestinationsConfig, ConfigError> {
        let mut webhook: Vec<WebhookConfig> = Vec::new();
        for w in self.webhook {
            let w = w.parse()?;
            if webhook.iter().any(|other| other.name == w.name) {
                return Err(invalid(
                    "destinations.webhook",
                    format!("name {:?} is used twice; give each webhook a name of its own", w.name),
                ));
            }
            webhook.push(w);
        }
        let mut s3: Vec<S3Config> = Vec::new();
        for file in self.s3 {
            if !crate::manifest::is_plain_name(&file.name) || s3.iter().any(|other| other.name == file.name) {
                return Err(invalid(
                    S3File::KEY,
                    format!("name {:?} must be a plain name of its own, e.g. \"offsite\"", file.name),
                ));
            }
            s3.push(file.parse()?);
        }
        Ok(DestinationsConfig { s3, discord: self.discord, email: self.email.parse()?, webhook })
    }
}

impl S3File {
    const KEY: &'static str = "destinations.s3";

    /// The bucket, endpoint and prefix checked; the secret key is read
    /// later, with the other secrets.
    fn parse(self) -> Result<S3Config, ConfigError> {
        let name = &self.name;
        if self.bucket.trim().is_empty() {
            return Err(invalid(Self::KEY, format!("\"{name}\": bucket is empty; name an existing bucket")));
        }
        let endpoint = match self.endpoint.as_str() {
            "" => None,
            text => Some(http_url(text).ok_or_else(|| {
                invalid(
                    Self::KEY,
                    format!("\"{name}\": endpoint {text:?} is not an http(s) URL, e.g. \"http://127.0.0.1:8333\""),
                )
            })?),
        };
        if self.prefix.starts_with('/') {
            return Err(invalid(Self::KEY, format!("\"{name}\": prefix must not start with '/'")));
        }
        Ok(S3Config {
            name: self.name,
            endpoint,
            bucket: self.bucket,
            prefix: self.prefix,
            region: self.region,
            access_key_id: self.access_key_id,
            secret_access_key_file: self.secret_access_key_file,
            secret_access_key: Secret::default(),
            timeout_secs: self.timeout_secs,
        })
    }
}

impl WebhookFile {
    /// The name and format checked; the URL is read from its file later,
    /// with the other secrets.
    fn parse(self) -> Result<WebhookConfig, ConfigError> {
        let key = "destinations.webhook";
        if !crate::manifest::is_plain_name(&self.name) {
            return Err(invalid(key, format!("name {:?} must be a plain name, e.g. \"ops\"", self.name)));
        }
        let format = self.format.parse::<WebhookFormat>().map_err(|_| {
            let allowed: Vec<String> =
                <WebhookFormat as strum::VariantNames>::VARIANTS.iter().map(|v| format!("{v:?}")).collect();
            invalid(key, format!("\"{}\": format {:?} is not one of {}", self.name, self.format, allowed.join(", ")))
        })?;
        if self.url_file.as_os_str().is_empty() {
            return Err(invalid(
                key,
                format!(
                    "\"{}\": url_file is empty; name the file holding the webhook's URL (the URL is a secret: never \
                     in the configuration itself)",
                    self.name
                ),
            ));
        }
        Ok(WebhookConfig { name: self.name, url_file: self.url_file, format, url: None })
    }
}

impl EmailFile {
    /// The relay's URL and the addresses; without a relay, the addresses
    /// are not read (nothing would use them).
    fn parse(self) -> Result<EmailConfig, ConfigError> {
        let off = EmailConfig {
            smtp_url: None,
            password_file: self.password_file,
            from: None,
            to: Vec::new(),
            max_attachment_mb: self.max_attachment_mb,
            timeout_secs: self.timeout_secs,
            password: Default::default(),
        };
        if self.smtp_url.is_empty() {
            return Ok(off);
        }
        let url =
            Url::parse(&self.smtp_url).ok().filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some());
        let Some(url) = url else {
            return Err(invalid(
                "destinations.email.smtp_url",
                "not an SMTP URL; e.g. \"smtps://backup@smtp.example.com:465\" or \"smtp://backup@smtp.example.com:587?tls=required\"",
            ));
        };
        // lettre's parser: what the email destination sends with.
        let from = self.from.parse::<Mailbox>().map_err(|_| {
            invalid(
                "destinations.email.from",
                format!("{:?} is not an address, e.g. \"Lifeboat <backup@example.com>\"", self.from),
            )
        })?;
        let to = self
            .to
            .iter()
            .map(|a| {
                a.parse::<Mailbox>().map_err(|_| {
                    invalid("destinations.email.to", format!("{a:?} is not an address, e.g. \"ops@example.com\""))
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(EmailConfig { smtp_url: Some(url), from: Some(from), to, ..off })
    }
}
