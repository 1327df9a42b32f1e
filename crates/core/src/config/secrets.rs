//! Reading the secrets the config names by file (the bot token, store keys,
//! webhook URL, SMTP and database passwords, encryption keys): each file is
//! read once at load, must be non-empty, and is never echoed in an error.
//!
//! [`Config::secret_files`] is the one list of those files: a files source
//! never archives them, and a file other users can read is warned about.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Secret, SecretUrl, invalid, looks_like_token};

/// A file holding one of Lifeboat's secrets, and the key that names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// `section.key`; for the configuration file itself, "the configuration file".
    pub key: &'static str,
    /// The source or destination it belongs to, for the kinds there may be several of.
    pub owner: Option<String>,
    pub path: PathBuf,
}

impl SecretFile {
    /// The key, with its source or destination: `sources.KIND.password_file ("area51")`.
    pub fn describe(&self) -> String {
        match &self.owner {
            Some(owner) => format!("{} ({owner:?})", self.key),
            None => self.key.to_string(),
        }
    }

    /// When other users of this machine may read or write it: what the
    /// warning says (the key, the path, its mode, the chmod that fixes it).
    pub fn exposure(&self) -> Option<String> {
        let mode = std::fs::metadata(&self.path).ok()?.permissions().mode() & 0o777;
        (mode & 0o007 != 0).then(|| {
            format!(
                "{} {} is open to every user on this machine (mode {mode:04o}); run `chmod o-rwx {}`",
                self.describe(),
                self.path.display(),
                self.path.display()
            )
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

/// The key naming the configuration file when it holds a secret itself.
pub const CONFIG_FILE_KEY: &str = "the configuration file";

impl Config {
    /// Every file holding one of Lifeboat's secrets that this configuration
    /// names: each kind's secret keys, and the configuration file when it
    /// holds the bot token itself. Reading a new secret from a file means
    /// listing its key here, or a files source could archive it.
    pub fn secret_files(&self) -> Vec<SecretFile> {
        let mut out = Vec::new();
        let mut add = |key: &'static str, owner: Option<&str>, path: &Path| {
            if !path.as_os_str().is_empty() {
                out.push(SecretFile { key, owner: owner.map(str::to_string), path: path.to_path_buf() });
            }
        };
        add("telegram.token_file", None, &self.telegram.token_file);
        add("discord.token_file", None, &self.discord.token_file);
        add("encryption.password_file", None, &self.encryption.password_file);
        add("encryption.identity_file", None, &self.encryption.identity_file);
        for kind in crate::source::KINDS {
            for s in kind.secret_files(self) {
                add(s.key, s.owner.as_deref(), &s.path);
            }
        }
        for d in &self.destinations.s3 {
            add("destinations.s3.secret_access_key_file", Some(&d.name), &d.secret_access_key_file);
        }
        add("destinations.discord.webhook_url_file", None, &self.destinations.discord.webhook_url_file);
        add("destinations.email.password_file", None, &self.destinations.email.password_file);
        for w in &self.destinations.webhook {
            add("destinations.webhook.url_file", Some(&w.name), &w.url_file);
        }
        if let Some(file) = self.file.as_deref().filter(|_| self.file_holds_secret) {
            add(CONFIG_FILE_KEY, None, file);
        }
        out
    }

    /// One warning for each secret file other users may read, as ssh warns
    /// about a private key.
    pub fn exposed_secret_files(&self) -> Vec<String> {
        self.secret_files().iter().filter_map(SecretFile::exposure).collect()
    }

    pub(super) fn resolve_token(&mut self) -> Result<(), ConfigError> {
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

    /// Reads the Discord bot's token from `discord.token_file`. An
    /// unreadable or empty file stops here, as the Telegram token's does.
    pub(super) fn resolve_discord_token(&mut self) -> Result<(), ConfigError> {
        let d = &mut self.discord;
        if d.token_file.as_os_str().is_empty() {
            return Ok(());
        }
        let key = "discord.token_file";
        let text = std::fs::read_to_string(&d.token_file)
            .map_err(|e| invalid(key, format!("cannot read {}: {e}", d.token_file.display())))?;
        let token = text.trim();
        if !looks_like_discord_token(token) {
            return Err(invalid(
                key,
                format!(
                    "{} does not hold a bot token (three parts joined by '.'); copy it from the Developer Portal, \
                     your application → Bot → Reset Token",
                    d.token_file.display()
                ),
            ));
        }
        d.token = Secret::new(token);
        Ok(())
    }

    /// Reads each S3 destination's keys: the files named, else the
    /// standard AWS environment variables.
    pub(super) fn resolve_store_keys(&mut self) -> Result<(), ConfigError> {
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
            if !d.endpoint.is_empty() && super::file::http_url(&d.endpoint).is_none() {
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

    /// Reads the Discord webhook URL and the SMTP password from their files,
    /// and refuses an SMTP URL that holds a password or names no user for
    /// the password file. No message quotes a secret.
    pub(super) fn resolve_messengers(&mut self) -> Result<(), ConfigError> {
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
        if !d.webhook_url_file.as_os_str().is_empty() {
            let key = "destinations.discord.webhook_url_file";
            let url = read(key, "webhook_url_file", &d.webhook_url_file)?;
            let Some(url) = super::file::http_url(url.trim()) else {
                return Err(invalid(
                    key,
                    format!(
                        "{} does not hold a webhook URL; copy it from the channel's Integrations → Webhooks (https://discord.com/api/webhooks/…)",
                        d.webhook_url_file.display()
                    ),
                ));
            };
            d.webhook_url = Some(SecretUrl::new(url));
        }
        for w in &mut self.destinations.webhook {
            let key = "destinations.webhook.url_file";
            let text = read(key, &format!("\"{}\": url_file", w.name), &w.url_file)?;
            let Some(url) = super::file::http_url(text.trim()) else {
                return Err(invalid(
                    key,
                    format!(
                        "\"{}\": {} does not hold an http(s) URL; put the endpoint's URL in it, e.g. \
                         https://ntfy.sh/<topic> or https://hooks.slack.com/services/…",
                        w.name,
                        w.url_file.display()
                    ),
                ));
            };
            w.url = Some(SecretUrl::new(url));
        }
        let e = &mut self.destinations.email;
        let Some(url) = &e.smtp_url else {
            return Ok(());
        };
        if url.password().is_some() {
            return Err(invalid(
                "destinations.email.smtp_url",
                "holds a password; remove it from the URL and put it in destinations.email.password_file",
            ));
        }
        if let Some((_, tls)) = url.query_pairs().find(|(k, _)| k == "tls")
            && !matches!(tls.as_ref(), "required" | "opportunistic")
        {
            return Err(invalid(
                "destinations.email.smtp_url",
                format!(
                    "tls={tls:?} is not one of \"required\", \"opportunistic\"; use smtp://…:587?tls=required (STARTTLS) or smtps://…:465 (TLS)"
                ),
            ));
        }
        // The parser the email destination connects with: what it refuses
        // here would otherwise turn email off at the first delivery. The URL
        // holds no password (refused above), so lettre's words may quote it.
        if let Err(why) = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.as_str()) {
            return Err(invalid(
                "destinations.email.smtp_url",
                format!(
                    "cannot be used ({why}); use \"smtps://user@host:465\" (TLS) or \"smtp://user@host:587?tls=required\" (STARTTLS)"
                ),
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
        Ok(())
    }

    /// Reads the secrets each kind of source names by file.
    pub(super) fn resolve_source_passwords(&mut self) -> Result<(), ConfigError> {
        crate::source::KINDS.iter().try_for_each(|k| k.resolve_secrets(&mut self.sources))
    }

    /// Reads the encryption secrets the mode needs (`env_password`: the
    /// value of [`crate::seal::PASSWORD_ENV`]); a mode without a usable
    /// secret stops here, naming the key.
    pub(super) fn resolve_keys(&mut self, env_password: Option<String>) -> Result<(), ConfigError> {
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
        if e.recipients.len() > crate::seal::MAX_RECIPIENTS {
            return Err(invalid(
                "encryption.recipients",
                format!(
                    "{} keys; at most {} (an age header that large is refused when read back): seal to fewer, e.g. one key per team",
                    e.recipients.len(),
                    crate::seal::MAX_RECIPIENTS
                ),
            ));
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
}
