//! `[destinations.email]`: the typed section (the relay's URL and the
//! addresses parsed once, at load), its parse from the file, the password
//! it reads from its file and its checks, which the configuration's loading
//! asks through [`Section`].

use std::path::PathBuf;

use lettre::message::Mailbox;
use serde::Deserialize;
use url::Url;

use lifeboat_core::config::error::{ConfigError, invalid};
use lifeboat_core::config::secret::{Secret, SecretFile, SecretProblem};
use lifeboat_core::config::value::MAX_TIMEOUT_SECS;
use lifeboat_core::destination::{DestinationId, Keep, Section, read_secret};

/// `[destinations.email]`: mail through an SMTP relay. With a relay, the
/// sender and at least one receiver are there too (checked at load).
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// lettre's URL form: `smtps://user@host:465` (implicit TLS),
    /// `smtp://user@host:587?tls=required` (STARTTLS); None (`""`) = no email.
    pub smtp_url: Option<url::Url>,
    /// The file holding the SMTP password; "" = no authentication.
    pub password_file: std::path::PathBuf,
    /// The sender, e.g. "Lifeboat <backup@example.com>"; None without a relay.
    pub from: Option<lettre::message::Mailbox>,
    /// Who gets the archives and alerts; empty without a relay.
    pub to: Vec<lettre::message::Mailbox>,
    /// Largest attachment, in MB; a larger archive is announced, not attached.
    pub max_attachment_mb: u64,
    /// How long one attempt to hand a mail to the relay (connect, greet,
    /// log in, send) may take.
    pub timeout_secs: u64,
    /// The SMTP password, read from `password_file`.
    pub password: Secret,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: None,
            password_file: Default::default(),
            from: None,
            to: Vec::new(),
            max_attachment_mb: 20,
            timeout_secs: 120,
            password: Default::default(),
        }
    }
}

impl EmailConfig {
    /// Whether a relay is configured.
    pub fn enabled(&self) -> bool {
        self.smtp_url.is_some()
    }
}

/// `[destinations.email]` as written, see [`EmailConfig`]; every key may
/// be left out.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailFile {
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

impl EmailFile {
    /// The relay's URL and the addresses; without a relay, the addresses
    /// are not read (nothing would use them).
    pub fn parse(self) -> Result<EmailConfig, ConfigError> {
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

impl Section for EmailConfig {
    fn secret_files(&self) -> Vec<SecretFile> {
        vec![SecretFile { key: "destinations.email.password_file", owner: None, path: self.password_file.clone() }]
    }

    /// All but the password (read and checked when it is resolved).
    fn ids(&self) -> Vec<DestinationId> {
        self.enabled().then_some(DestinationId::EMAIL).into_iter().collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(invalid(
                "destinations.email.timeout_secs",
                format!("is {}; allowed: 1 to {MAX_TIMEOUT_SECS} seconds", self.timeout_secs),
            ));
        }
        if !(1..=1000).contains(&self.max_attachment_mb) {
            return Err(invalid(
                "destinations.email.max_attachment_mb",
                format!(
                    "{} is out of range; use what the relay accepts (often 20 or 25), at most 1000",
                    self.max_attachment_mb
                ),
            ));
        }
        if self.enabled() && self.to.is_empty() {
            return Err(invalid("destinations.email.to", "is empty; list who gets the archives and alerts"));
        }
        Ok(())
    }

    /// Refuses an SMTP URL that holds a password or names no user for the
    /// password file, then reads the password. No message quotes a secret.
    fn resolve_secrets(&mut self, keep: Keep<'_>) -> Result<(), ConfigError> {
        let Some(url) = &self.smtp_url else {
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
        if !self.password_file.as_os_str().is_empty() {
            if url.username().is_empty() {
                return Err(invalid(
                    "destinations.email.smtp_url",
                    "names no user for password_file; e.g. \"smtps://backup@smtp.example.com:465\"",
                ));
            }
            match read_secret("destinations.email.password_file", "password_file", &self.password_file) {
                Ok(password) => self.password = Secret::new(password),
                Err(error) => keep(SecretProblem { owner: None, error })?,
            }
        }
        Ok(())
    }
}
