//! `[destinations.discord]`: the typed section (read from the file as it
//! is), the webhook URL it reads from its file and its checks, which the
//! configuration's loading asks through [`Section`].

use serde::Deserialize;

use lifeboat_core::config::error::{ConfigError, invalid};
use lifeboat_core::config::secret::{SecretFile, SecretProblem, SecretUrl};
use lifeboat_core::config::value::http_url;
use lifeboat_core::destination::{DestinationId, Keep, Section, read_secret};

/// `[destinations.discord]`: a channel's webhook. The URL is the secret
/// (anyone holding it can post), so it comes from a file and never shows in
/// `Debug`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The file holding the webhook URL; "" = no Discord.
    #[serde(default)]
    pub webhook_url_file: std::path::PathBuf,
    /// Largest attachment, in MB; larger archives go in parts of this size.
    #[serde(default = "default_discord_mb")]
    pub max_upload_mb: u64,
    /// The webhook URL, read from `webhook_url_file`; None: no Discord.
    #[serde(skip)]
    pub webhook_url: Option<SecretUrl>,
}

fn default_discord_mb() -> u64 {
    10
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            webhook_url_file: Default::default(),
            max_upload_mb: default_discord_mb(),
            webhook_url: Default::default(),
        }
    }
}

impl DiscordConfig {
    /// Whether a webhook is configured.
    pub fn enabled(&self) -> bool {
        self.webhook_url.is_some()
    }
}

impl Section for DiscordConfig {
    fn secret_files(&self) -> Vec<SecretFile> {
        vec![SecretFile {
            key: "destinations.discord.webhook_url_file",
            owner: None,
            path: self.webhook_url_file.clone(),
        }]
    }

    /// All but the webhook URL (read and checked when it is resolved).
    fn ids(&self) -> Vec<DestinationId> {
        self.enabled().then_some(DestinationId::DISCORD).into_iter().collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=500).contains(&self.max_upload_mb) {
            return Err(invalid(
                "destinations.discord.max_upload_mb",
                format!("{} is out of range; use 10 (Discord's limit without boosts), at most 500", self.max_upload_mb),
            ));
        }
        Ok(())
    }

    /// The webhook URL from its file. No message quotes it.
    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        if self.webhook_url_file.as_os_str().is_empty() {
            return Ok(());
        }
        let key = "destinations.discord.webhook_url_file";
        let file = &self.webhook_url_file;
        let url = read_secret(key, "webhook_url_file", file).and_then(|url| {
            http_url(url.trim()).ok_or_else(|| {
                invalid(
                    key,
                    format!(
                        "{} does not hold a webhook URL; copy it from the channel's Integrations → Webhooks (https://discord.com/api/webhooks/…)",
                        file.display()
                    ),
                )
            })
        });
        match url {
            Ok(url) => self.webhook_url = Some(SecretUrl::new(url)),
            Err(error) => keep(SecretProblem { owner: None, error })?,
        }
        Ok(())
    }
}
