//! `[discord]`: the Discord bot's own section (not the webhook destination,
//! which is `[destinations.discord]`): its token read from its file, the
//! people it answers and its checks, which the configuration's loading asks
//! through [`Section`]. The bot itself is `lifeboat-discord`.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use lifeboat_core::config::error::{ConfigError, invalid};
use lifeboat_core::config::secret::{Secret, SecretFile, SecretProblem};
use lifeboat_core::config::value::http_url;
use lifeboat_core::destination::{Keep, Section};

/// The table the section is read from.
pub const TABLE: &str = "discord";

/// Its keys holding lists of whole numbers (comma-separated in the
/// environment).
pub const INT_LISTS: &[&str] = &["discord.admin_ids"];

/// `[discord]`: the Discord bot `lifeboat-discord` (not the webhook
/// destination, which is `[destinations.discord]`).
#[derive(Clone)]
pub struct DiscordBotConfig {
    /// Bot token, read from `token_file`; never printed (see [`Secret`]).
    pub token: Secret,
    /// File holding the bot token ("": the bot cannot run).
    pub token_file: PathBuf,
    /// REST API base URL (http or https, with a host), e.g.
    /// `https://discord.com/api`.
    pub api_url: url::Url,
    /// May restore; gets a DM after every scheduled backup. 0 = nobody.
    pub owner_id: u64,
    /// May back up and list.
    pub admin_ids: Vec<u64>,
}

impl DiscordBotConfig {
    /// The Discord API every real bot talks to.
    pub const OFFICIAL_API: &str = "https://discord.com/api";

    /// Whether `user` may back up and list (admins and the owner).
    pub fn is_admin(&self, user: u64) -> bool {
        user != 0 && (self.admin_ids.contains(&user) || self.owner_id == user)
    }

    /// Whether `user` may restore.
    pub fn is_owner(&self, user: u64) -> bool {
        user != 0 && self.owner_id == user
    }
}

impl fmt::Debug for DiscordBotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordBotConfig")
            .field("token", &self.token)
            .field("token_file", &self.token_file)
            .field("api_url", &self.api_url.as_str())
            .field("owner_id", &self.owner_id)
            .field("admin_ids", &self.admin_ids)
            .finish()
    }
}

/// `[discord]` as written, see [`DiscordBotConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordFile {
    token_file: PathBuf,
    api_url: String,
    owner_id: u64,
    admin_ids: Vec<u64>,
}

impl DiscordFile {
    /// The section, its URL parsed; the token is read later, with the
    /// other secrets.
    pub fn parse(self) -> Result<DiscordBotConfig, ConfigError> {
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

/// A Discord bot token's shape: three non-empty parts joined by '.', of
/// letters, digits, '_' and '-' (the user id, a time stamp, a signature).
fn looks_like_discord_token(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
}

impl Section for DiscordBotConfig {
    fn secret_files(&self) -> Vec<SecretFile> {
        vec![SecretFile { key: "discord.token_file", owner: None, path: self.token_file.clone() }]
    }

    /// The admins' ids; the token is checked when it is read.
    fn validate(&self) -> Result<(), ConfigError> {
        for (i, id) in self.admin_ids.iter().enumerate() {
            if *id == 0 {
                return Err(invalid("discord.admin_ids", "contains 0; give numeric Discord user ids"));
            }
            if self.admin_ids[..i].contains(id) {
                return Err(invalid("discord.admin_ids", format!("{id} is listed twice")));
            }
        }
        Ok(())
    }

    /// Reads the bot's token from `discord.token_file`. An unreadable or
    /// empty file stops the load, as the Telegram token's does.
    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        if self.token_file.as_os_str().is_empty() {
            return Ok(());
        }
        let key = "discord.token_file";
        let file = &self.token_file;
        let token = std::fs::read_to_string(file)
            .map_err(|e| invalid(key, format!("cannot read {}: {e}", file.display())))
            .and_then(|text| {
                let token = text.trim();
                if !looks_like_discord_token(token) {
                    return Err(invalid(
                        key,
                        format!(
                            "{} does not hold a bot token (three parts joined by '.'); copy it from the Developer Portal, \
                             your application → Bot → Reset Token",
                            file.display()
                        ),
                    ));
                }
                Ok(Secret::new(token))
            });
        match token {
            Ok(token) => self.token = token,
            Err(error) => keep(SecretProblem { owner: None, error })?,
        }
        Ok(())
    }
}
