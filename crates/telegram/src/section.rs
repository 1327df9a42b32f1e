//! `[telegram]`: the typed section, its parse from the file, the bot token
//! it reads from its file and its checks, behind the
//! [`lifeboat_core::destination::Section`] trait that the configuration's
//! loading calls for every kind.

use std::fmt;
use std::path::{Path, PathBuf};

use lifeboat_core::config::error::{ConfigError, invalid};
use lifeboat_core::config::secret::{Secret, SecretFile, SecretProblem};
use lifeboat_core::config::value::http_url;
use lifeboat_core::destination::{Keep, Section};
use serde::Deserialize;

/// Its keys holding lists of whole numbers (comma-separated in the
/// environment).
pub const INT_LISTS: &[&str] = &["telegram.admin_ids"];

/// `[telegram]`
#[derive(Clone)]
pub struct TelegramConfig {
    /// Bot token; never printed (see [`Secret`]).
    pub token: Secret,
    /// File holding the token, read when `token` is empty.
    pub token_file: PathBuf,
    /// Bot API base URL (http or https, with a host).
    pub api_url: url::Url,
    /// Admins: receive every backup, may use `/admin`.
    pub admin_ids: Vec<i64>,
    /// Owner: may also restore from Telegram. 0 = nobody.
    pub owner_id: i64,
    /// Upload limit in decimal MB; larger archives are split.
    pub max_upload_mb: u64,
    /// Timeout of one upload request.
    pub upload_timeout_secs: u64,
}

impl TelegramConfig {
    /// Whether a bot token is configured (delivery enabled).
    pub fn enabled(&self) -> bool {
        !self.token.is_empty()
    }

    /// Everyone who may use the dashboard: admins and the owner.
    pub fn is_admin(&self, user_id: i64) -> bool {
        user_id != 0 && (self.admin_ids.contains(&user_id) || self.owner_id == user_id)
    }
}

impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("token", &self.token)
            .field("token_file", &self.token_file)
            .field("api_url", &self.api_url.as_str())
            .field("admin_ids", &self.admin_ids)
            .field("owner_id", &self.owner_id)
            .field("max_upload_mb", &self.max_upload_mb)
            .field("upload_timeout_secs", &self.upload_timeout_secs)
            .finish()
    }
}

/// `[telegram]` as written, see [`TelegramConfig`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramFile {
    token: Secret,
    token_file: PathBuf,
    api_url: String,
    admin_ids: Vec<i64>,
    owner_id: i64,
    max_upload_mb: u64,
    upload_timeout_secs: u64,
}

impl TelegramFile {
    /// The section, its URL parsed; a token in `token_file` is read later,
    /// with the other secrets.
    pub fn parse(self) -> Result<TelegramConfig, ConfigError> {
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

/// A bot token's shape: digits, ':', then 30 or more letters, digits, '_'
/// or '-'.
fn looks_like_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else { return false };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads the bot token from `file`.
fn read_token(file: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| invalid("telegram.token_file", format!("cannot read {}: {e}", file.display())))?;
    // An empty file would silently turn delivery off.
    if text.trim().is_empty() {
        return Err(invalid(
            "telegram.token_file",
            format!(
                "{} is empty; put the bot token from @BotFather in it, or set token_file = \"\" to run without Telegram",
                file.display()
            ),
        ));
    }
    if !looks_like_token(text.trim()) {
        return Err(invalid(
            "telegram.token_file",
            format!(
                "{} does not hold a bot token (digits, ':', then 30+ letters, digits, '_' or '-'); copy it from @BotFather",
                file.display()
            ),
        ));
    }
    Ok(Secret::new(text.trim()))
}

/// The user ids config/example.toml shows: placeholders, never real admins.
const EXAMPLE_IDS: [i64; 2] = [123_456_789, 987_654_321];

impl Section for TelegramConfig {
    fn secret_files(&self) -> Vec<SecretFile> {
        vec![SecretFile { key: "telegram.token_file", owner: None, path: self.token_file.clone() }]
    }

    /// The token's shape, the admins and the owner, the upload limit and
    /// its timeout.
    fn validate(&self) -> Result<(), ConfigError> {
        let t = self;
        if !t.token.is_empty() && !looks_like_token(t.token.expose()) {
            return Err(invalid(
                "telegram.token",
                "does not look like a bot token (digits, ':', then 30+ letters, digits, '_' or '-'); copy it from @BotFather",
            ));
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
        // The example config's ids belong to strangers: with a token, every
        // archive would go to them.
        let placeholder = t.admin_ids.iter().chain([&t.owner_id]).find(|id| EXAMPLE_IDS.contains(id));
        if let Some(id) = placeholder.filter(|_| !t.token.is_empty()) {
            let key = if t.admin_ids.contains(id) { "telegram.admin_ids" } else { "telegram.owner_id" };
            return Err(invalid(
                key,
                format!(
                    "{id} is the example configuration's placeholder, not an admin of this bot; put your own \
                     numeric Telegram user id (message @userinfobot to learn it)"
                ),
            ));
        }
        if t.owner_id < 0 {
            return Err(invalid(
                "telegram.owner_id",
                format!("is {}; give a Telegram user id, or 0 for nobody", t.owner_id),
            ));
        }
        Ok(())
    }

    /// Reads the token from `telegram.token_file` when `telegram.token` is
    /// empty. An unreadable, empty or malformed file stops the load, or is
    /// handed to `keep` when the token may wait for its use.
    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        if !self.token.is_empty() || self.token_file.as_os_str().is_empty() {
            return Ok(());
        }
        match read_token(&self.token_file) {
            Ok(token) => self.token = token,
            Err(error) => keep(SecretProblem { owner: None, error })?,
        }
        Ok(())
    }
}
