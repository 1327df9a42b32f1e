//! `[[destinations.webhook]]`: the typed section, its parse from the file,
//! the URL it reads from its file and its checks, which the configuration's
//! loading asks through [`Section`].

use std::path::PathBuf;

use serde::Deserialize;

use lifeboat_core::config::error::{ConfigError, invalid};
use lifeboat_core::config::secret::{SecretFile, SecretUrl};
use lifeboat_core::config::value::http_url;
use lifeboat_core::destination::{DestinationId, Keep, Section, read_secret};

/// One `[[destinations.webhook]]`: alerts as HTTP POSTs to any endpoint
/// (ntfy, a Slack-compatible incoming webhook, any JSON receiver). The URL
/// is the secret (whoever holds it can post), so it comes from a file and
/// never shows in `Debug`.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Its name, for reports and logs.
    pub name: String,
    /// The file holding the URL.
    pub url_file: std::path::PathBuf,
    /// How each alert is written.
    pub format: WebhookFormat,
    /// The URL, read from `url_file` at load.
    pub url: Option<SecretUrl>,
}

impl WebhookConfig {
    /// How reports and logs name it ("webhook:ops").
    pub fn id(&self) -> DestinationId {
        DestinationId::webhook(&self.name)
    }
}

/// How a webhook's alert is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, strum::EnumString, strum::IntoStaticStr, strum::VariantNames)]
#[strum(serialize_all = "lowercase")]
pub enum WebhookFormat {
    /// `{"source", "host", "title", "text"}` as `application/json`.
    #[default]
    Json,
    /// ntfy: the text as the body, the title in the `Title` header.
    Ntfy,
    /// A Slack-compatible incoming webhook: `{"text"}`.
    Slack,
}

impl WebhookFormat {
    /// As written in the configuration.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

const KEY: &str = "destinations.webhook";

/// One `[[destinations.webhook]]` as written, see [`WebhookConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    name: String,
    #[serde(default)]
    url_file: PathBuf,
    #[serde(default = "json_format")]
    format: String,
}

fn json_format() -> String {
    WebhookFormat::Json.as_str().to_string()
}

/// Every webhook, each with a name of its own.
pub fn parse(files: Vec<WebhookFile>) -> Result<Vec<WebhookConfig>, ConfigError> {
    let mut webhook: Vec<WebhookConfig> = Vec::new();
    for w in files {
        let w = w.parse()?;
        if webhook.iter().any(|other| other.name == w.name) {
            return Err(invalid(KEY, format!("name {:?} is used twice; give each webhook a name of its own", w.name)));
        }
        webhook.push(w);
    }
    Ok(webhook)
}

impl WebhookFile {
    /// The name and format checked; the URL is read from its file later,
    /// with the other secrets.
    fn parse(self) -> Result<WebhookConfig, ConfigError> {
        if !lifeboat_core::manifest::is_plain_name(&self.name) {
            return Err(invalid(KEY, format!("name {:?} must be a plain name, e.g. \"ops\"", self.name)));
        }
        let format = self.format.parse::<WebhookFormat>().map_err(|_| {
            let allowed: Vec<String> =
                <WebhookFormat as strum::VariantNames>::VARIANTS.iter().map(|v| format!("{v:?}")).collect();
            invalid(KEY, format!("\"{}\": format {:?} is not one of {}", self.name, self.format, allowed.join(", ")))
        })?;
        if self.url_file.as_os_str().is_empty() {
            return Err(invalid(
                KEY,
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

impl Section for WebhookConfig {
    fn secret_files(&self) -> Vec<SecretFile> {
        vec![SecretFile {
            key: "destinations.webhook.url_file",
            owner: Some(self.name.clone()),
            path: self.url_file.clone(),
        }]
    }

    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The URL from its file; one that cannot be read or is no http(s) URL
    /// stops the load. No message quotes the URL.
    fn resolve_secrets(&mut self, _keep: Keep<'_>) -> Result<(), ConfigError> {
        let key = "destinations.webhook.url_file";
        let text = read_secret(key, &format!("\"{}\": url_file", self.name), &self.url_file)?;
        let Some(url) = http_url(text.trim()) else {
            return Err(invalid(
                key,
                format!(
                    "\"{}\": {} does not hold an http(s) URL; put the endpoint's URL in it, e.g. \
                     https://ntfy.sh/<topic> or https://hooks.slack.com/services/…",
                    self.name,
                    self.url_file.display()
                ),
            ));
        };
        self.url = Some(SecretUrl::new(url));
        Ok(())
    }
}
