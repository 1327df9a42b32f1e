//! What the kinds that copy a server with its own tools share: their config
//! section (a name, a URL without a password, a password file, a deadline)
//! and how its password is read.

use std::path::PathBuf;

use serde::Deserialize;

use super::Section;
use crate::config::error::ConfigError;
use crate::config::secret::{Secret, SecretFile, SecretProblem};

/// One `[[sources.KIND]]` of a server kind: a server copied with its own
/// tools into one archive entry named after the source.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ServerFile")]
pub struct ServerConfig {
    pub name: String,
    /// Without a password: a password in a URL would show in `ps`.
    pub url: ServerUrl,
    /// The file holding the password ("" = none).
    pub password_file: PathBuf,
    /// Read from `password_file` at load.
    pub password: Option<Secret>,
    /// How long one run of one of its tools may take before it is killed
    /// and the source skipped.
    pub timeout_secs: u64,
}

/// A [`ServerConfig`] as written: its url is parsed once, at load.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    name: String,
    url: String,
    #[serde(default)]
    password_file: PathBuf,
    #[serde(default = "default_tool_timeout")]
    timeout_secs: u64,
}

/// A server source's url that does not parse. The text is never echoed,
/// since a URL that does not parse may still hold a password.
#[derive(Debug, thiserror::Error)]
#[error("\"{name}\": url is not a URL ({source})")]
pub struct BadUrl {
    /// The source's name.
    name: String,
    source: url::ParseError,
}

impl TryFrom<ServerFile> for ServerConfig {
    type Error = BadUrl;

    /// The kind's own checks of the url (its scheme, no password in it)
    /// follow in its validation.
    fn try_from(file: ServerFile) -> Result<ServerConfig, BadUrl> {
        let url = file.url.parse().map_err(|source| BadUrl { name: file.name.clone(), source })?;
        Ok(ServerConfig {
            name: file.name,
            url,
            password_file: file.password_file,
            password: None,
            timeout_secs: file.timeout_secs,
        })
    }
}

fn default_tool_timeout() -> u64 {
    DEFAULT_TOOL_TIMEOUT_SECS
}

/// `timeout_secs` of a server source when not given: long enough for a
/// large dump, short enough that a hung tool frees the cycle within the hour.
pub const DEFAULT_TOOL_TIMEOUT_SECS: u64 = 3600;

/// A server's URL, parsed at load and kept as written too: the tools get
/// it exactly as the operator wrote it, and the checks and the database
/// name read the parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    written: String,
    parsed: url::Url,
}

impl ServerUrl {
    /// As written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.written
    }

    /// Parsed.
    pub fn url(&self) -> &url::Url {
        &self.parsed
    }
}

impl std::str::FromStr for ServerUrl {
    type Err = url::ParseError;

    fn from_str(text: &str) -> Result<ServerUrl, url::ParseError> {
        Ok(ServerUrl { written: text.to_string(), parsed: url::Url::parse(text)? })
    }
}

impl std::fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.written)
    }
}

/// The tools take it as an argument, as written.
impl AsRef<std::ffi::OsStr> for ServerUrl {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.written.as_ref()
    }
}

/// Query parameters of a server URL that carry a secret or where one is.
const SECRET_PARAMS: [&str; 3] = ["password", "passfile", "sslpassword"];

impl ServerConfig {
    /// Its section for the checks every kind shares; `key` is
    /// `sources.KIND`, its entry the name plus `suffix`.
    pub(super) fn section(&self, key: &'static str, suffix: &str) -> Section<'_> {
        Section {
            key,
            name: &self.name,
            entry: format!("{}{suffix}", self.name),
            timeout_secs: Some(self.timeout_secs),
        }
    }

    /// Its password file, listed under `key` (`sources.KIND.password_file`).
    pub(super) fn secret_file(&self, key: &'static str) -> Option<SecretFile> {
        (!self.password_file.as_os_str().is_empty()).then(|| SecretFile {
            key,
            owner: Some(self.name.clone()),
            path: self.password_file.clone(),
        })
    }

    /// Checks its url: one of `schemes`, with no password in it (`key`:
    /// `sources.KIND`; `example`: a good url, for the message).
    pub(super) fn check_url(&self, key: &'static str, schemes: &[&str], example: &str) -> Result<(), ConfigError> {
        let (name, parsed) = (&self.name, self.url.url());
        let invalid = |message: String| ConfigError::Invalid { key, message };
        if !schemes.contains(&parsed.scheme()) {
            return Err(invalid(format!("\"{name}\": url must start with {}://; e.g. {example:?}", schemes[0])));
        }
        if parsed.password().is_some() {
            // Never echo the URL: it holds the password.
            return Err(invalid(format!(
                "\"{name}\": url holds a password; remove it and put the password in password_file (chmod 600)"
            )));
        }
        // A server's client library may read these from the query too, and
        // the URL goes on the tools' command lines, which every local user
        // sees in `ps`.
        if let Some((param, _)) = parsed.query_pairs().find(|(k, _)| SECRET_PARAMS.contains(&k.as_ref())) {
            return Err(invalid(format!(
                "\"{name}\": url names a secret in its query ({param}=…); remove it and put the password in password_file (chmod 600)"
            )));
        }
        Ok(())
    }

    /// `error`, as the problem with this source's secret.
    pub(super) fn problem(&self, error: ConfigError) -> SecretProblem {
        SecretProblem::of(&self.name, error)
    }

    /// Reads `password_file` (`key`: `sources.KIND`, for the message).
    pub(super) fn read_password(&mut self, key: &'static str) -> Result<(), ConfigError> {
        let (name, file) = (&self.name, &self.password_file);
        if file.as_os_str().is_empty() {
            self.password = None;
            return Ok(());
        }
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Invalid {
            key,
            message: format!("\"{name}\": cannot read password_file {}: {e}", file.display()),
        })?;
        let password = text.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(ConfigError::Invalid {
                key,
                message: format!("\"{name}\": password_file {} is empty", file.display()),
            });
        }
        self.password = Some(Secret::new(password));
        Ok(())
    }
}
