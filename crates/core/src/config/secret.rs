//! What a secret is, apart from how the configuration reads them
//! (`secrets.rs`): a value that never shows itself, a file that holds one,
//! and one that could not be read.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde::Deserialize;

use super::error::ConfigError;

/// A string that never shows itself in `Debug` or `Display` output.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself: pass it straight to the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "[redacted]" })
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A URL that is itself a secret (a webhook's: whoever holds it can post),
/// parsed; it never shows itself in `Debug` or `Display` output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(url::Url);

impl SecretUrl {
    /// Wraps a secret URL.
    pub fn new(url: url::Url) -> Self {
        Self(url)
    }
    /// The URL itself: pass it straight to the one place that needs it.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A secret that could not be read, and the source or destination it
/// belongs to (for the kinds there may be several of).
#[derive(Debug)]
pub struct SecretProblem {
    pub owner: Option<String>,
    pub error: ConfigError,
}

impl SecretProblem {
    /// A problem with the secret of `owner`.
    pub fn of(owner: &str, error: ConfigError) -> SecretProblem {
        SecretProblem { owner: Some(owner.to_string()), error }
    }
}

/// A secret file a `SecretsNeeded::WhenUsed` (in the loading) load could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadSecret {
    /// The key at fault (`telegram.token_file`, `sources.postgres`…).
    pub key: &'static str,
    /// The source or destination it belongs to.
    pub owner: Option<String>,
    /// What is wrong, as the load would have refused it.
    pub problem: String,
}

impl UnreadSecret {
    /// As a configuration error, for the operation that needs it.
    pub fn error(&self) -> ConfigError {
        ConfigError::Invalid { key: self.key, message: self.problem.clone() }
    }
}

impl std::fmt::Display for UnreadSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.problem)
    }
}

/// Refuses, as the load would have, when the secret under `key` (of
/// `owner`, for the kinds there may be several of; None: of any) is one of
/// `unread`.
pub fn require(unread: &[UnreadSecret], key: &str, owner: Option<&str>) -> Result<(), ConfigError> {
    match unread.iter().find(|u| u.key == key && (owner.is_none() || u.owner.as_deref() == owner)) {
        Some(u) => Err(u.error()),
        None => Ok(()),
    }
}

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
